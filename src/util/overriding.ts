/**
 * A decorator that lists only what it changes: `overriding(inner, { close: async () => {} })`
 * behaves as `inner` for every member except the overridden ones. Members are forwarded when
 * read, so a method added to the interface later is forwarded without editing the decorator.
 * Methods run with `inner` as `this` (class instances with private state keep working).
 */
export function overriding<T extends object>(inner: T, overrides: Partial<T>): T {
  type Method = (...args: unknown[]) => unknown;
  // Bound once per method, not per call: storage and presence calls are on the message path.
  const bound = new Map<PropertyKey, { method: Method; bound: Method }>();
  return new Proxy(inner, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof T];
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const method = value as Method;
      const hit = bound.get(prop);
      if (hit?.method === method) return hit.bound;
      const fn = method.bind(target);
      bound.set(prop, { method, bound: fn });
      return fn;
    },
  });
}
