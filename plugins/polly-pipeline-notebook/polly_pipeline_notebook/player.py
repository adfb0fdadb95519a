"""Notebook plugin: the HTML and JavaScript of the inline player, as display bundles.

Three outputs make up a run in the notebook:

- the **player** (:func:`player_bundle`): a small Web Audio player. Its script registers the
  player in ``window.__pollyPipelinePlayers[id]``; chunks are scheduled back to back on one
  ``AudioContext``. Re-rendering the output reattaches the same player instead of making a
  second one.
- the **push** output (:func:`chunk_bundle`, :func:`control_bundle`): updated in place for
  every chunk with a script that hands the chunk (16-bit little-endian mono PCM, base64) to the
  player. The player ignores a sequence number it has seen, so a re-rendered push is harmless.
- the **answer** (:func:`answer_bundle`): at close the player is replaced by a plain
  ``<audio controls>`` element holding the whole answer as WAV, which survives saving the
  notebook. Playing it stops the live player if it is still speaking.

Every bundle has a ``text/plain`` form for front ends that show no HTML, and its metadata
(under :data:`METADATA_KEY`) says what it carries.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from IPython.display import display

__all__ = [
    "METADATA_KEY",
    "PLAYER_JS",
    "Bundle",
    "answer_bundle",
    "chunk_bundle",
    "control_bundle",
    "player_bundle",
    "publish",
]

#: Key of this plugin's entry in an output's metadata.
METADATA_KEY = "polly_pipeline_notebook"

#: A display bundle: (mime type -> data, metadata), as IPython's ``display(raw=True)`` takes.
Bundle = tuple[dict[str, str], dict[str, Any]]

#: Defines ``window.__pollyPipelinePlayer(id, autoplay)``: creates (or reattaches) a player.
PLAYER_JS = r"""
(function () {
  if (window.__pollyPipelinePlayer) { return; }
  var LEAD = 0.08;   // seconds between a push and its audio, to absorb rendering jitter
  var FADE = 0.03;   // seconds of fade-out on stop, so a barge-in does not click
  window.__pollyPipelinePlayers = window.__pollyPipelinePlayers || {};
  function fmt(s) { return s.toFixed(1) + " s"; }
  function Player(id, autoplay) {
    this.id = id;
    this.autoplay = autoplay;
    this.seen = {};
    this.ctx = null;
    this.gain = null;
    this.next = 0;
    this.received = 0;
    this.scheduled = [];  // {seq, start, duration}: what was handed to the AudioContext
    this.sources = [];
    this.ended = false;
    this.stopped = false;
    this.root = null;
  }
  Player.prototype.context = function () {
    if (!this.ctx) {
      var AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) { return null; }
      this.ctx = new AC();
      this.gain = this.ctx.createGain();
      this.gain.connect(this.ctx.destination);
      if (!this.autoplay && this.ctx.suspend) { this.ctx.suspend(); }
    }
    return this.ctx;
  };
  Player.prototype.attach = function (root) {
    var self = this;
    this.root = root;
    if (!root) { return; }
    var button = root.querySelector("button");
    if (button) {
      button.onclick = function () {
        var ctx = self.context();
        if (!ctx) { return; }
        if (ctx.state === "running") { ctx.suspend(); } else { ctx.resume(); }
        setTimeout(function () { self.render(); }, 50);
      };
    }
    if (!this.timer) {
      this.timer = setInterval(function () { self.render(); }, 250);
    }
    this.render();
  };
  Player.prototype.played = function () {
    if (!this.ctx || !this.scheduled.length) { return 0; }
    var now = this.ctx.currentTime, total = 0;
    for (var i = 0; i < this.scheduled.length; i++) {
      var item = this.scheduled[i];
      total += Math.max(0, Math.min(item.duration, now - item.start));
    }
    return total;
  };
  Player.prototype.render = function () {
    if (!this.root || !this.root.isConnected) {
      if (this.timer && (!this.root || this.ended)) {
        clearInterval(this.timer);
        this.timer = null;
      }
      return;
    }
    var status = this.root.querySelector(".polly-status");
    var button = this.root.querySelector("button");
    var ctx = this.ctx, state = ctx ? ctx.state : "no audio";
    if (button) { button.textContent = state === "running" ? "\u23f8" : "\u25b6"; }
    var text = (this.ended ? "answer complete: " : "streaming: ") + fmt(this.received) +
      " received, " + fmt(this.played()) + " played";
    if (this.stopped) { text = "stopped after " + fmt(this.played()); }
    else if (state === "suspended") { text += " (paused: press \u25b6 to listen)"; }
    else if (!ctx) { text += " (this browser has no Web Audio)"; }
    if (status) { status.textContent = text; }
  };
  Player.prototype.push = function (seq, sampleRate, b64) {
    if (this.seen[seq] || this.stopped) { return; }
    this.seen[seq] = true;
    var bytes = atob(b64), n = bytes.length >> 1;
    if (!n) { return; }
    var ctx = this.context();
    var seconds = n / sampleRate;
    this.received += seconds;
    if (!ctx) { this.render(); return; }
    var buffer = ctx.createBuffer(1, n, sampleRate);
    var data = buffer.getChannelData(0);
    for (var i = 0; i < n; i++) {
      var v = bytes.charCodeAt(2 * i) | (bytes.charCodeAt(2 * i + 1) << 8);
      data[i] = (v >= 32768 ? v - 65536 : v) / 32768;
    }
    var source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.gain);
    var start = Math.max(this.next, ctx.currentTime + LEAD);
    source.start(start);
    this.next = start + buffer.duration;
    this.sources.push(source);
    var sources = this.sources;
    source.onended = function () {
      var k = sources.indexOf(source);
      if (k >= 0) { sources.splice(k, 1); }
    };
    this.scheduled.push({seq: seq, start: start, duration: buffer.duration});
    this.render();
  };
  Player.prototype.end = function () { this.ended = true; this.render(); };
  Player.prototype.stop = function () {
    if (this.stopped) { return; }
    this.stopped = true;
    if (this.ctx) {
      var now = this.ctx.currentTime;
      this.gain.gain.setValueAtTime(this.gain.gain.value, now);
      this.gain.gain.linearRampToValueAtTime(0, now + FADE);
      var sources = this.sources.slice();
      for (var i = 0; i < sources.length; i++) {
        try { sources[i].stop(now + FADE); } catch (e) { /* already ended */ }
      }
    }
    this.render();
  };
  window.__pollyPipelinePlayer = function (id, autoplay) {
    var players = window.__pollyPipelinePlayers;
    if (!players[id]) { players[id] = new Player(id, autoplay); }
    players[id].attach(document.getElementById("polly-player-" + id));
    return players[id];
  };
})();
"""


def publish(bundle: Bundle, *, display_id: str | None = None, update: bool = False) -> None:
    """Send a bundle to the front end through IPython (into the running cell's output)."""
    data, metadata = bundle
    # IPython's display() has no annotations
    display(  # type: ignore[no-untyped-call]
        data, raw=True, metadata=metadata, display_id=display_id, update=update
    )


def _meta(player_id: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {METADATA_KEY: {"player": player_id, "kind": kind, **fields}}


def _script(body: str) -> str:
    return f"<script>\n{body}\n</script>"


def _player_call(player_id: str, call: str) -> str:
    """A script that calls ``call`` on the player, if this page has it."""
    pid = json.dumps(player_id)
    return _script(
        f"(function () {{ var p = (window.__pollyPipelinePlayers || {{}})[{pid}]; "
        f"if (p) {{ p.{call}; }} }})();"
    )


def player_bundle(player_id: str, *, title: str, autoplay: bool) -> Bundle:
    """The live player: a play/pause button, a status line, and the player's code."""
    pid = json.dumps(player_id)
    markup = (
        f'<div class="polly-pipeline-player" id="polly-player-{html.escape(player_id)}" '
        'style="font-family: sans-serif; font-size: 0.9em; display: flex; gap: 0.6em; '
        'align-items: center">'
        '<button type="button" title="play / pause" style="min-width: 2.2em">\u25b6</button>'
        f"<b>{html.escape(title)}</b>"
        '<span class="polly-status">waiting for audio</span></div>'
    )
    script = _script(PLAYER_JS + f"\nwindow.__pollyPipelinePlayer({pid}, {json.dumps(autoplay)});")
    data = {
        "text/html": markup + script,
        "text/plain": f"{title}: streaming audio (open in Jupyter to hear it live)",
    }
    return data, _meta(player_id, "player", autoplay=autoplay)


def chunk_bundle(
    player_id: str,
    *,
    seq: int,
    pcm: bytes,
    sample_rate: int,
    received_seconds: float,
    extra: dict[str, Any],
) -> Bundle:
    """A push: one chunk of 16-bit mono PCM for the player's queue."""
    encoded = base64.b64encode(pcm).decode("ascii")
    call = f"push({seq}, {sample_rate}, {json.dumps(encoded)})"
    data = {
        "text/html": _player_call(player_id, call),
        "text/plain": f"streaming: {received_seconds:.1f} s of audio received",
    }
    seconds = len(pcm) // 2 / sample_rate
    return data, _meta(
        player_id, "chunk", seq=seq, sample_rate=sample_rate, seconds=seconds, **extra
    )


def control_bundle(player_id: str, command: str, *, text: str) -> Bundle:
    """A push that tells the player the stream ended (``end``) or to stop now (``stop``)."""
    if command not in ("end", "stop"):
        raise ValueError(f"unknown player command {command!r}")
    data = {"text/html": _player_call(player_id, f"{command}()"), "text/plain": text}
    return data, _meta(player_id, command)


def answer_bundle(
    player_id: str, *, title: str, wav: bytes, seconds: float, details: str
) -> Bundle:
    """The whole answer as a standard ``<audio controls>`` element (a WAV data URI)."""
    pid = json.dumps(player_id)
    encoded = base64.b64encode(wav).decode("ascii")
    markup = (
        '<div class="polly-pipeline-answer" style="font-family: sans-serif; font-size: 0.9em">'
        f"<div><b>{html.escape(title)}</b> ({seconds:.1f} s, {html.escape(details)})</div>"
        f'<audio controls preload="metadata" id="polly-answer-{html.escape(player_id)}" '
        f'src="data:audio/wav;base64,{encoded}"></audio></div>'
    )
    # playing the recording silences the live player, so the two never talk over each other
    script = _script(
        f'(function () {{ var a = document.getElementById("polly-answer-" + {pid}); '
        f"if (!a) {{ return; }} a.addEventListener('play', function () {{ "
        f"var p = (window.__pollyPipelinePlayers || {{}})[{pid}]; if (p) {{ p.stop(); }} }}); "
        "})();"
    )
    data = {
        "text/html": markup + script,
        "text/plain": f"{title}: {seconds:.1f} s of audio ({details})",
    }
    return data, _meta(player_id, "answer", seconds=seconds)
