// The browser sink's player: receives 16-bit PCM chunks over a WebSocket and schedules them
// back to back on an AudioContext clock, reporting every step back to the sink.
//
// Wire format (see polly_pipeline_browser/protocol.py):
//   binary  = 16-byte header (uint32 LE: sequence, turn, sample rate, flags) + PCM s16le mono
//   text    = JSON control messages: config, sync, turn, interrupt, end
// Reports sent back (JSON): hello, sync, scheduled, dropped, interrupted, end_ack, ended.
//
// Gateway mode (?gateway=1, where `polly-pipeline serve` serves this page): the page speaks
// the gateway's conversation protocol on /v1/speak instead: it opens a conversation (pcm at
// 16 kHz, ?voice=... or Joanna), sends what is typed (or ?say=...) as a turn, plays the raw
// PCM frames with the same scheduling, and stops at once on "Interrupt". What it did is kept
// in window.pollyGateway (ready, turns with their scheduled seconds, errors, underruns).
//
// Autoplay: browsers only start audio after a user gesture, so the page shows a
// "Start audio" button. With ?autoplay=1 in the URL it starts at once when the browser allows
// it (e.g. Chromium with --autoplay-policy=no-user-gesture-required) and falls back to the
// button when it does not.
"use strict";

(() => {
  const HEADER_BYTES = 16;
  const FLAG_TAIL = 1;
  const params = new URLSearchParams(location.search);
  const autoplay = params.get("autoplay") === "1";
  const gatewayMode = params.get("gateway") === "1";

  const button = document.getElementById("start");
  const statusLine = document.getElementById("status");
  const meter = document.querySelector("#meter div");

  let ctx = null;
  let ws = null;
  let lead = 0.1;
  let fade = 0.05;
  let turn = null;
  let stopped = false; // the current turn was interrupted: its chunks are not played
  let gain = null; // the current turn's gain node (faded out on interrupt)
  let nextTime = 0; // AudioContext time the next chunk starts at
  let scheduledSeconds = 0;
  let fresh = true; // no chunk of the current turn scheduled yet (a gap there is no underrun)
  let endPending = null; // the end message waiting for playback to finish
  const playing = new Set();

  function status(text) {
    statusLine.textContent = text;
  }

  function clocks() {
    return {
      perf: performance.now(),
      epoch: Date.now(),
      ctx_time: ctx ? ctx.currentTime : null,
    };
  }

  function report(message) {
    if (!gatewayMode && ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(Object.assign(message, clocks())));
    }
  }

  // The wall-clock (performance.now) moment an AudioContext time is heard.
  function perfAt(contextTime) {
    const stamp = ctx.getOutputTimestamp ? ctx.getOutputTimestamp() : null;
    if (stamp && stamp.performanceTime > 0) {
      return stamp.performanceTime + (contextTime - stamp.contextTime) * 1000;
    }
    return performance.now() + (contextTime - ctx.currentTime) * 1000;
  }

  async function start() {
    if (!ctx) {
      ctx = new AudioContext({ latencyHint: "interactive" });
    }
    if (ctx.state !== "running") {
      // resume() stays pending while autoplay is blocked: give it a moment, then ask
      await Promise.race([ctx.resume(), new Promise((r) => setTimeout(r, 500))]);
    }
    if (ctx.state !== "running") {
      button.hidden = false;
      status("Click \u201cStart audio\u201d to listen.");
      return;
    }
    button.hidden = true;
    connect();
  }

  button.addEventListener("click", () => {
    button.disabled = true;
    start().finally(() => {
      button.disabled = false;
    });
  });

  function connect() {
    if (gatewayMode) {
      gateway.connect();
      return;
    }
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + "/stream");
    ws.binaryType = "arraybuffer";
    status("Connecting\u2026");
    ws.onopen = () => {
      report({
        type: "hello",
        user_agent: navigator.userAgent,
        sample_rate: ctx.sampleRate,
        base_latency: ctx.baseLatency || 0,
        output_latency: ctx.outputLatency || 0,
        autoplay,
      });
      status("Connected: waiting for speech.");
    };
    ws.onmessage = (event) => {
      if (typeof event.data === "string") {
        control(JSON.parse(event.data));
      } else {
        chunk(event.data);
      }
    };
    ws.onclose = () => {
      status(playing.size ? "Stream closed; finishing playback." : "Stream closed.");
    };
  }

  function control(message) {
    switch (message.type) {
      case "config":
        lead = message.lead;
        fade = message.fade;
        if (message.title) {
          document.title = message.title;
        }
        break;
      case "sync":
        report({ type: "sync", server: message.server });
        break;
      case "turn":
        beginTurn(message.turn);
        break;
      case "interrupt":
        interrupt(message.turn);
        break;
      case "end":
        end(message);
        break;
      default:
        break;
    }
  }

  function beginTurn(id) {
    turn = id;
    stopped = false;
    fresh = true;
    gain = ctx.createGain();
    gain.connect(ctx.destination);
    status(`Speaking (turn ${id}).`);
  }

  function chunk(data) {
    const view = new DataView(data);
    const sequence = view.getUint32(0, true);
    const chunkTurn = view.getUint32(4, true);
    const rate = view.getUint32(8, true);
    const tail = (view.getUint32(12, true) & FLAG_TAIL) !== 0;
    play(chunkTurn, sequence, tail, rate, view, HEADER_BYTES);
  }

  // Schedule one chunk of 16-bit PCM (the bytes of `view` from `offset` on).
  function play(chunkTurn, sequence, tail, rate, view, offset) {
    if (chunkTurn !== turn) {
      beginTurn(chunkTurn);
    }
    if (stopped) {
      report({ type: "dropped", turn: chunkTurn, sequence, tail });
      return;
    }
    const samples = (view.byteLength - offset) >> 1;
    // Back to back with the chunk before; a turn's first chunk (or one that comes after the
    // queue ran dry: an underrun) starts `lead` seconds from now, so it is not cut.
    const underrun = !fresh && nextTime < ctx.currentTime;
    const at = fresh || underrun ? Math.max(nextTime, ctx.currentTime + lead) : nextTime;
    let duration = 0;
    if (samples > 0) {
      const buffer = ctx.createBuffer(1, samples, rate);
      const out = buffer.getChannelData(0);
      for (let i = 0; i < samples; i++) {
        out[i] = view.getInt16(offset + 2 * i, true) / 32768;
      }
      const source = ctx.createBufferSource();
      source.buffer = buffer;
      source.connect(gain);
      source.onended = () => {
        playing.delete(source);
        if (playing.size === 0) {
          finished();
        }
      };
      playing.add(source);
      source.start(at);
      duration = buffer.duration;
      nextTime = at + duration;
      scheduledSeconds += duration;
      fresh = false;
    }
    report({
      type: "scheduled",
      turn: chunkTurn,
      sequence,
      tail,
      start: at,
      duration,
      underrun,
      starts_at_perf: perfAt(at),
    });
    meter.style.width = `${Math.min(100, (scheduledSeconds % 30) * (100 / 30))}%`;
    return { duration, underrun };
  }

  function interrupt(id) {
    stopped = true;
    const now = ctx.currentTime;
    const silentAt = now + fade;
    if (gain) {
      gain.gain.cancelScheduledValues(now);
      gain.gain.setValueAtTime(gain.gain.value, now);
      gain.gain.linearRampToValueAtTime(0, silentAt);
    }
    for (const source of playing) {
      source.onended = null;
      try {
        source.stop(silentAt);
      } catch (err) {
        // a source that has not started yet may refuse a stop time before its start
        source.stop();
      }
    }
    const cut = playing.size;
    playing.clear();
    nextTime = silentAt;
    report({ type: "interrupted", turn: id, start: silentAt, sources_stopped: cut });
    status("Interrupted.");
    finished();
  }

  function end(message) {
    endPending = message;
    const remaining = Math.max(0, nextTime - ctx.currentTime);
    report({
      type: "end_ack",
      turn: message.turn,
      start: nextTime,
      remaining: stopped ? 0 : remaining,
    });
    if (playing.size === 0) {
      finished();
    }
  }

  function finished() {
    if (endPending === null || playing.size > 0) {
      return;
    }
    const message = endPending;
    endPending = null;
    report({ type: "ended", turn: message.turn, start: ctx.currentTime });
    status(stopped ? "Stopped." : "Finished.");
  }

  // -- gateway mode: the conversation protocol of `polly-pipeline serve` ----------------------
  const gateway = (() => {
    const state = { ready: null, turns: {}, errors: [], underruns: 0, closed: false };
    window.pollyGateway = state;
    const form = document.getElementById("ask");
    const textBox = document.getElementById("text");
    const tokenBox = document.getElementById("token");
    let rate = 16000;
    let sequence = 0;
    let held = null; // an odd byte waiting for the next frame

    function send(message) {
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify(message));
      }
    }

    function say(text) {
      send({ type: "text", text, flush: false });
      send({ type: "end" });
    }

    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const token = tokenBox.value.trim();
      const protocols = token ? ["polly-pipeline", `bearer.${token}`] : [];
      ws = new WebSocket(scheme + location.host + "/v1/speak", protocols);
      ws.binaryType = "arraybuffer";
      status("Connecting\u2026");
      ws.onopen = () => {
        send({ type: "start", voice: params.get("voice") || "Joanna", format: "pcm", sample_rate: 16000 });
      };
      ws.onmessage = (event) => {
        if (typeof event.data === "string") {
          onEvent(JSON.parse(event.data));
        } else {
          onAudio(event.data);
        }
      };
      ws.onclose = () => {
        state.closed = true;
        status("Disconnected from the gateway.");
      };
    }

    function onEvent(message) {
      const entry = state.turns[message.turn];
      switch (message.type) {
        case "ready":
          rate = message.sample_rate;
          state.ready = message;
          status(`Ready: ${message.voice}. Type something and press Speak.`);
          if (params.get("say")) {
            say(params.get("say"));
          }
          break;
        case "turn_started":
          state.turns[message.turn] = { seconds: 0, chunks: 0, done: false, interrupted: false };
          held = null;
          beginTurn(message.turn);
          break;
        case "turn_done":
          if (entry) {
            entry.done = true;
            entry.metrics = message.metrics;
          }
          status("Finished.");
          break;
        case "interrupted":
          if (message.turn !== null && entry) {
            entry.interrupted = true;
            interrupt(message.turn);
          }
          break;
        case "error":
          state.errors.push(message);
          status(`Error (${message.error}): ${message.message}`);
          break;
        default:
          break;
      }
    }

    function onAudio(data) {
      let bytes = new Uint8Array(data);
      if (held !== null) {
        const joined = new Uint8Array(bytes.length + 1);
        joined[0] = held;
        joined.set(bytes, 1);
        bytes = joined;
        held = null;
      }
      if (bytes.length % 2) {
        held = bytes[bytes.length - 1];
        bytes = bytes.subarray(0, bytes.length - 1);
      }
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const done = play(turn, sequence++, false, rate, view, 0);
      const entry = state.turns[turn];
      if (done && entry) {
        entry.chunks += 1;
        entry.seconds += done.duration;
        state.underruns += done.underrun ? 1 : 0;
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (textBox.value.trim()) {
        say(textBox.value);
      }
    });
    document.getElementById("interrupt").addEventListener("click", () => send({ type: "interrupt" }));
    form.hidden = false;
    return { connect };
  })();

  if (autoplay) {
    start();
  } else {
    button.hidden = false;
    status("Click \u201cStart audio\u201d to listen.");
  }
})();
