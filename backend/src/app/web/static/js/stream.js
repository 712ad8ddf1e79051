// The live stream (/ws, docs/websocket.md): the token as the first message, subscriptions,
// and resuming after a drop. Per channel the last seq applied is kept; a reconnect sends it
// back with the run's epoch, so the server replays exactly the missed events (or a resync
// snapshot when it cannot). A seq that skips ahead means something was missed: the channel
// is subscribed again for a fresh snapshot rather than shown with a hole in it.

const HEARTBEAT_DEADLINE_MS = 50_000; // the server beats every 20 s: two missed, reconnect
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;
const SNAPSHOT_RETRY_MS = 1_000;
const CHUNK = 100; // channels per subscribe message (the protocol's limit)

export class Stream {
  /**
   * @param {() => string} tokenOf the token to authenticate with
   * @param {(state: string) => void} onState told "connecting", "live", "reconnecting", "denied"
   */
  constructor(tokenOf, onState) {
    this.tokenOf = tokenOf;
    this.onState = onState;
    this.channels = new Map(); // name -> {seq, handlers: Set, awaitingSnapshot}
    this.epoch = null;
    this.socket = null;
    this.state = "offline";
    this.retryMs = RETRY_FIRST_MS;
    this.lastSeen = 0;
    this.stats = { reconnects: 0, gaps: 0, resyncs: 0, resumed: 0 };
    this.stopped = false;
    setInterval(() => this.watchdog(), 5_000);
  }

  /** Calls `handler(message)` for the channel's snapshots and events; returns an unsubscriber. */
  subscribe(name, handler) {
    let channel = this.channels.get(name);
    if (!channel) {
      channel = { seq: null, handlers: new Set(), awaitingSnapshot: true };
      this.channels.set(name, channel);
      this.send({ type: "subscribe", channels: [name] });
    }
    // One entry per subscription, even for a handler given twice: one view leaving never
    // takes another's events away.
    const entry = (message) => handler(message);
    channel.handlers.add(entry);
    let done = false;
    return () => {
      if (done) return; // a second call must not drop the channel from a later subscriber
      done = true;
      channel.handlers.delete(entry);
      if (channel.handlers.size === 0 && this.channels.get(name) === channel) {
        this.channels.delete(name);
        this.send({ type: "unsubscribe", channels: [name] });
      }
    };
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.socket) this.socket.close(1000);
    else this.setState("offline");
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state, this.stats);
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN && this.authenticated) {
      this.socket.send(JSON.stringify(message));
    }
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws`);
    this.socket = socket;
    this.authenticated = false;
    this.lastSeen = Date.now(); // a connection attempt that hangs counts as silence too
    this.setState(this.stats.reconnects || this.epoch ? "reconnecting" : "connecting");
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "auth", token: this.tokenOf() }));
      this.authenticated = true; // no reply to a good token: a bad one is closed with 4401
      this.lastSeen = Date.now();
      this.resubscribeAll();
    };
    socket.onmessage = (message) => {
      this.lastSeen = Date.now();
      this.receive(JSON.parse(message.data));
    };
    socket.onclose = (event) => this.dropped(socket, event.code);
  }

  /** The connection is gone (closed, or silent past the deadline): reconnect after a pause. */
  dropped(socket, code) {
    if (this.socket !== socket) return;
    this.socket = null;
    this.authenticated = false;
    if (code === 4401) {
      this.setState("denied");
      return;
    }
    if (this.stopped) {
      this.setState("offline");
      return;
    }
    this.setState("reconnecting");
    setTimeout(() => {
      if (this.socket === null && !this.stopped) {
        this.stats.reconnects += 1;
        this.connect();
      }
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  resubscribeAll() {
    const names = [...this.channels.keys()];
    for (let start = 0; start < names.length; start += CHUNK) {
      const chunk = names.slice(start, start + CHUNK);
      const since = {};
      for (const name of chunk) {
        const channel = this.channels.get(name);
        if (channel.seq !== null && !channel.awaitingSnapshot) since[name] = channel.seq;
      }
      const message = { type: "subscribe", channels: chunk };
      if (Object.keys(since).length && this.epoch) {
        message.since_seq = since;
        message.epoch = this.epoch;
      }
      this.socket.send(JSON.stringify(message));
    }
  }

  receive(message) {
    switch (message.type) {
      case "subscribed":
        if (this.epoch && message.epoch === this.epoch && this.stats.reconnects) {
          this.stats.resumed += 1;
        }
        this.epoch = message.epoch;
        this.retryMs = RETRY_FIRST_MS;
        this.setState("live");
        break;
      case "snapshot":
        this.snapshot(message);
        break;
      case "event":
        this.event(message);
        break;
      case "error":
        if (message.error === "not_authenticated") this.setState("denied");
        else if (message.error === "snapshot_unavailable" && message.channel) {
          // Not subscribed (the protocol says: try again): once more in a second.
          const name = message.channel;
          setTimeout(() => {
            if (this.channels.get(name)?.awaitingSnapshot) {
              this.send({ type: "subscribe", channels: [name] });
            }
          }, SNAPSHOT_RETRY_MS);
        }
        break;
      default: // heartbeat, pong, unsubscribed, closing: nothing to show
        break;
    }
  }

  snapshot(message) {
    const channel = this.channels.get(message.channel);
    if (!channel) return;
    if (message.resync) this.stats.resyncs += 1;
    channel.seq = message.seq;
    channel.awaitingSnapshot = false;
    for (const handler of channel.handlers) handler(message);
  }

  event(message) {
    const channel = this.channels.get(message.channel);
    if (!channel || channel.awaitingSnapshot) return;
    if (channel.seq !== null) {
      if (message.seq <= channel.seq) return; // already applied (events may repeat a snapshot)
      if (message.seq !== channel.seq + 1) {
        // A hole: ask for the channel's state again rather than show it incomplete.
        this.stats.gaps += 1;
        channel.awaitingSnapshot = true;
        this.send({ type: "unsubscribe", channels: [message.channel] });
        this.send({ type: "subscribe", channels: [message.channel] });
        return;
      }
    }
    channel.seq = message.seq;
    for (const handler of channel.handlers) handler(message);
  }

  watchdog() {
    const socket = this.socket;
    if (!socket || Date.now() - this.lastSeen <= HEARTBEAT_DEADLINE_MS) return;
    // Reconnect now: closing a dead connection waits for its closing handshake (Chromium: up
    // to a minute), all that time still saying "live" over numbers that no longer move.
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.close(4000);
    this.dropped(socket, 4000);
  }
}
