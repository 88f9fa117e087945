// A small typed event emitter: `on`, `once` and `off`, as players' own
// emitters have them. `on` and `once` also return the way to unsubscribe.

type Handler<E> = (event: E) => void;

export class Emitter<Events extends object> {
  private handlers: { [K in keyof Events]?: Array<Handler<Events[K]>> } = {};

  on<K extends keyof Events>(name: K, handler: Handler<Events[K]>): () => void {
    (this.handlers[name] = this.handlers[name] ?? []).push(handler);
    return () => this.off(name, handler);
  }

  /** Calls `handler` for the next `name` event only. `off(name, handler)` cancels it. */
  once<K extends keyof Events>(name: K, handler: Handler<Events[K]>): () => void {
    const wrapper: Handler<Events[K]> & { original?: Handler<Events[K]> } = (event) => {
      this.off(name, handler);
      handler(event);
    };
    wrapper.original = handler;
    return this.on(name, wrapper);
  }

  /** Removes `handler` (added by `on` or `once`); without one, every handler of `name`. */
  off<K extends keyof Events>(name: K, handler?: Handler<Events[K]>): void {
    if (!handler) {
      delete this.handlers[name];
      return;
    }
    const held = this.handlers[name] ?? [];
    const at = held.findIndex((h) => h === handler || (h as { original?: unknown }).original === handler);
    if (at >= 0) this.handlers[name] = [...held.slice(0, at), ...held.slice(at + 1)];
  }

  /** A handler that throws is reported and does not stop the others, nor the session. */
  protected emit<K extends keyof Events>(name: K, event: Events[K]): void {
    for (const handler of this.handlers[name] ?? []) {
      try {
        handler(event);
      } catch (error) {
        console.error(`streamlease: a "${String(name)}" handler threw`, error);
      }
    }
  }
}
