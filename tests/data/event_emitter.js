'use strict';

/**
 * A small event emitter, in the style of Node's `events` module.
 */
class EventEmitter {
  constructor() {
    this._events = new Map();
    this._maxListeners = 10;
  }

  on(name, listener) {
    if (typeof listener !== 'function') {
      throw new TypeError(`listener must be a function, got ${typeof listener}`);
    }
    const list = this._events.get(name) || [];
    list.push(listener);
    this._events.set(name, list);
    if (list.length > this._maxListeners) {
      console.warn('possible leak: %d listeners for %s', list.length, name);
    }
    return this;
  }

  once(name, listener) {
    const wrapped = (...args) => {
      this.off(name, wrapped);
      listener.apply(this, args);
    };
    return this.on(name, wrapped);
  }

  off(name, listener) {
    const list = this._events.get(name);
    if (!list) return this;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this._events.delete(name);
    return this;
  }

  emit(name, ...args) {
    const list = this._events.get(name);
    if (!list) return false;
    for (const fn of [...list]) {
      fn.apply(this, args); // listeners may remove themselves
    }
    return true;
  }
}

module.exports = { EventEmitter };
