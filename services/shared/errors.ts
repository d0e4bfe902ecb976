/**
 * One error taxonomy for meshbridge (after kafkajs): every error says whether retrying can help and carries
 * structured context (what, where) for logs and metrics.
 */
export class MeshbridgeError extends Error {
  constructor(
    message: string,
    readonly opts: { retriable: boolean; code: string; context?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, { cause: opts.cause });
    this.name = 'MeshbridgeError';
  }
  get retriable(): boolean {
    return this.opts.retriable;
  }
  get code(): string {
    return this.opts.code;
  }
  get context(): Record<string, unknown> {
    return this.opts.context ?? {};
  }
}

/** Invalid configuration: names the offending key and how to fix it. Never retriable. */
export class ConfigError extends MeshbridgeError {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`, {
      retriable: false,
      code: 'CONFIG_INVALID',
      context: { problems },
    });
    this.name = 'ConfigError';
  }
}

/** Another writer took over (collector epoch superseded, projector partition offset moved on). Never retriable. */
export class FencedError extends MeshbridgeError {
  constructor(message: string, context: Record<string, unknown>) {
    super(message, { retriable: false, code: 'FENCED', context });
    this.name = 'FencedError';
  }
}

/** A registry that could not be read completely (unreachable, refused, timed out): nothing can be verified. */
export class RegistryUnreadable extends MeshbridgeError {
  constructor(message: string) {
    super(message, { retriable: true, code: 'REGISTRY_UNREADABLE' });
    this.name = 'RegistryUnreadable';
  }
}

/** A result returned as data, for validation and parsing (grpc-js-xds style): no throwing on bad input. */
export type Result<T, E = string> = { ok: true; value: T } | { ok: false; error: E };
export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });
