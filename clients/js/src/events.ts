// A small typed event emitter: `on(name, handler)` returns the way to unsubscribe.

export class Emitter<Events extends object> {
  private handlers: { [K in keyof Events]?: Array<(event: Events[K]) => void> } = {};

  on<K extends keyof Events>(name: K, handler: (event: Events[K]) => void): () => void {
    (this.handlers[name] ??= []).push(handler);
    return () => {
      this.handlers[name] = this.handlers[name]?.filter((h) => h !== handler);
    };
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
