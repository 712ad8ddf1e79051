// The live stream (/ws, docs/websocket.md): the token as the first message, subscriptions,
// and resuming after a drop. Per channel the last seq applied is kept; a reconnect sends it
// back with the run's epoch, so the server replays exactly the missed events (or a resync
// snapshot when it cannot). A seq that skips ahead means something was missed: the channel
// is subscribed again for a fresh snapshot rather than shown with a hole in it.

const HEARTBEAT_DEADLINE_MS = 50_000; // the server beats every 20 s: two missed, reconnect
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;
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
    channel.handlers.add(handler);
    return () => {
      channel.handlers.delete(handler);
      if (channel.handlers.size === 0) {
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
    this.socket?.close(1000);
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
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.authenticated = false;
      if (event.code === 4401) {
        this.setState("denied");
        return;
      }
      if (this.stopped) {
        this.setState("offline");
        return;
      }
      this.setState("reconnecting");
      setTimeout(() => {
        if (this.socket === socket && !this.stopped) {
          this.stats.reconnects += 1;
          this.connect();
        }
      }, this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    };
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
    const open = this.socket?.readyState === WebSocket.OPEN;
    if (open && Date.now() - this.lastSeen > HEARTBEAT_DEADLINE_MS) this.socket.close(4000);
  }
}
