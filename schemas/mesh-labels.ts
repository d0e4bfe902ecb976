/** Endpoint label naming the registry source an endpoint came from (set by the collector, read by verify). */
export const SOURCE_LABEL = 'meshbridge.io/source';
/** ServiceEntry annotation listing the sources that contribute to it (set by the projector, read by verify). */
export const SOURCES_ANNOTATION = 'meshbridge.io/sources';
