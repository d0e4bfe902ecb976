// The registrar lives in the harness (shared with `meshbridge up`); tests import it from here.
export { DubboRegistrar } from '../../harness/dubbo-registrar.ts';
