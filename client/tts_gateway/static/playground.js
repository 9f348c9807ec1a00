// The gateway's playground. Every control is built from GET /contract (the request contract's
// ranges and defaults, and the loaded voices); nothing here restates a range. Speak sends
// POST /v1/audio/speech with response_format "pcm" and reads the body as it streams: each
// piece of 16-bit PCM is scheduled into Web Audio on arrival, so the first words play while
// the server is still decoding the rest (stream.js). When the body ends, the pieces become
// the WAV in #audio and behind "Download WAV". Field values go to the server as typed: it
// judges them, and its error (naming the field) is shown as it wrote it.

import { readPcm, StreamPlayer, wavBlob } from "./stream.js";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "tts-playground-api-key";

const state = {
  contract: null, // GET /contract
  voice: null, // the selected voice of contract.voices
  audioContext: null,
  run: null, // the request in flight: {abort, ctx, player}
  wavUrl: null,
};
// what tests and scripts read: the last run's numbers (milliseconds from the click)
window.playground = { lastRun: null, lastBody: null };

class ServerError extends Error {
  constructor(message, field, status) {
    super(message);
    this.field = field || null;
    this.status = status;
  }
}

function headers(extra = {}) {
  const key = $("api-key").value.trim();
  return key ? { ...extra, "X-API-Key": key } : extra;
}

// The server's own error: OpenAI's {"error": {message, param}} or upstream's
// {"message", "field"}; anything else as text.
async function serverError(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    const err = body.error || body;
    return new ServerError(err.message || err.detail || text, err.param || err.field,
      response.status);
  } catch {
    return new ServerError(text || `${response.status} ${response.statusText}`, null,
      response.status);
  }
}

// ---- status and errors -------------------------------------------------------------------

function setState(name, status) {
  document.body.dataset.state = name;
  if (status !== undefined) $("status").textContent = status;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
  for (const el of document.querySelectorAll("[aria-invalid='true']")) {
    el.removeAttribute("aria-invalid");
  }
}

function showError(err) {
  const box = $("error");
  box.textContent = err.message;
  box.dataset.field = err.field || "";
  box.hidden = false;
  const control = err.field && document.querySelector(`[data-param="${CSS.escape(err.field)}"]`);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.focus();
  } else if (err.status === 401) {
    $("api-key").setAttribute("aria-invalid", "true");
    $("api-key").focus();
  }
}

// ---- building the controls from the contract ----------------------------------------------

function option(value, label) {
  const el = document.createElement("option");
  el.value = value;
  el.textContent = label ?? value;
  return el;
}

function fill(select, options) {
  select.replaceChildren(...options);
}

// One knob: a slider and a text box that carries the value as typed (the server checks it).
function knobRow(scale) {
  const row = document.createElement("div");
  row.className = "knob";
  row.dataset.input = scale.input;
  const id = `knob-${scale.name}`;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = scale.name;
  label.title = `${scale.input}: ${scale.low} to ${scale.high}`;
  const slider = document.createElement("input");
  slider.type = "range";
  slider.min = scale.low;
  slider.max = scale.high;
  slider.step = 10 ** Math.floor(Math.log10((scale.high - scale.low) / 100));
  slider.tabIndex = -1; // the text box is the keyboard's way in; the slider is for pointers
  slider.setAttribute("aria-hidden", "true");
  const box = document.createElement("input");
  box.type = "text";
  box.id = id;
  box.inputMode = "decimal";
  box.spellcheck = false;
  box.dataset.param = scale.name;
  box.setAttribute("aria-describedby", `${id}-range`);
  const range = document.createElement("small");
  range.id = `${id}-range`;
  range.textContent = `${scale.low}–${scale.high}`;
  slider.addEventListener("input", () => {
    box.value = slider.value;
    box.removeAttribute("aria-invalid");
  });
  box.addEventListener("input", () => {
    const n = Number(box.value);
    const inside = box.value.trim() !== "" && n >= scale.low && n <= scale.high;
    if (inside) slider.value = box.value;
    box.classList.toggle("outside", box.value.trim() !== "" && !inside);
  });
  box.addEventListener("keydown", (e) => { // arrow keys step like the slider would
    if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
    e.preventDefault();
    const step = Number(slider.step) * (e.shiftKey ? 10 : 1) * (e.key === "ArrowUp" ? 1 : -1);
    const n = Number(box.value);
    const from = Number.isFinite(n) ? n : scale.default;
    const next = Math.min(scale.high, Math.max(scale.low, from + step));
    box.value = String(Number(next.toFixed(6)));
    slider.value = box.value;
    box.classList.remove("outside");
  });
  row.append(label, slider, box, range);
  row.setValue = (v) => {
    box.value = String(v);
    slider.value = String(v);
    box.classList.remove("outside");
  };
  row.scale = scale;
  row.box = box;
  return row;
}

function buildContract(contract) {
  state.contract = contract;
  const voices = contract.voices;
  fill($("voice"), voices.map((v) => option(v.name, `${v.name} (id ${v.id}, ${v.release})`)));
  $("knobs").replaceChildren(...contract.scales.map(knobRow));
  fill($("emotion-id"), []);
  const ids = contract.emotion_ids;
  for (let i = ids.min; i <= ids.max; i++) $("emotion-id").append(option(String(i)));
  $("seed").placeholder = "random";
  $("seed-note").textContent = `${contract.seed.min}–${contract.seed.max}; empty: a new ` +
    "random seed each time. The same seed gives the same audio.";
  if (!voices.length) {
    setState("error", "No voice is loaded on the server: load one (tts load NAME).");
    $("speak").disabled = true;
    return;
  }
  selectVoice();
  $("speak").disabled = false;
  setState("idle", `${voices.length} voice${voices.length > 1 ? "s" : ""} loaded.`);
}

function selectVoice() {
  const contract = state.contract;
  const voice = contract.voices.find((v) => v.name === $("voice").value) || contract.voices[0];
  state.voice = voice;
  fill($("speaker"), voice.speakers.map((s) => option(s.name, `${s.name} (${s.id})`)));
  fill($("language"), [...voice.languages, ...contract.language_modes].map((l) => option(l)));
  $("language").value = voice.default_language;
  const profiles = contract.profiles.names.map((p) => option(p));
  fill($("profile"), [option("", "the voice's own"), ...profiles]);
  fill($("style"), voice.styles.map((s) => option(s)));
  const takes = new Set(voice.conditioning_inputs);
  // an input that only some releases take is shown for the voices that take it
  for (const el of document.querySelectorAll("[data-input]")) {
    const only = el.dataset.input in contract.conditioning_inputs;
    el.hidden = only && !takes.has(el.dataset.input);
  }
  $("voice-note").textContent = `release ${voice.release}, ${voice.sample_rate} Hz` +
    (voice.streams ? ", streams per vocoder window" : ", streams per sentence");
  $("text-note").textContent = `at most ${Math.min(voice.limits.max_text_chars,
    contract.gateway.max_text_chars)} characters per request`;
  resetKnobs();
}

// Each knob to the selected speaker's default (voice.json), else the contract's.
function resetKnobs() {
  const speaker = state.voice.speakers.find((s) => s.name === $("speaker").value);
  const own = (speaker && speaker.defaults) || {};
  for (const row of $("knobs").children) {
    const s = row.scale;
    row.setValue(s.voice_default && s.name in own ? own[s.name] : s.default);
  }
}

async function loadContract() {
  clearError();
  setState("loading", "Loading voices…");
  $("speak").disabled = true;
  try {
    const response = await fetch("/contract", { headers: headers() });
    if (!response.ok) throw await serverError(response);
    buildContract(await response.json());
  } catch (err) {
    setState("error", "Could not load the voices.");
    showError(err instanceof ServerError ? err : new ServerError(String(err)));
  }
}

// ---- the request ---------------------------------------------------------------------------

function requestBody() {
  const voice = state.voice;
  const body = {
    model: voice.name,
    voice: $("speaker").value,
    input: $("text").value,
    response_format: "pcm",
    language: $("language").value,
  };
  const visible = (el) => !el.closest("[hidden]");
  const typed = ["seed", "profile", "style-text", "emotion", "given-phones", "given-tones"];
  for (const id of typed) {
    const el = $(id);
    if (visible(el) && el.value.trim() !== "") body[el.dataset.param] = el.value.trim();
  }
  for (const id of ["style", "emotion-id"]) {
    if (visible($(id)) && $(id).value !== "") body[$(id).dataset.param] = $(id).value;
  }
  for (const row of $("knobs").children) {
    if (!row.hidden && row.box.value.trim() !== "") body[row.scale.name] = row.box.value.trim();
  }
  return body;
}

function audioContext() {
  if (!state.audioContext) state.audioContext = new AudioContext();
  return state.audioContext;
}

function stop() {
  const run = state.run;
  if (!run) return;
  run.abort.abort();
  if (run.player) run.player.stop();
  state.run = null;
}

function showStats(r) {
  const ms = (v) => `${Math.round(v)} ms`;
  $("stat-first").textContent = r.firstAudioMs == null ? "–" : ms(r.firstAudioMs);
  $("stat-total").textContent = ms(r.totalMs);
  $("stat-audio").textContent = `${r.audioSeconds.toFixed(2)} s`;
  const rtf = r.totalMs / 1000 / r.audioSeconds;
  $("stat-rtf").textContent = r.audioSeconds > 0 ? rtf.toFixed(3) : "–";
}

// POST the body; play the PCM as it streams; the run's numbers (ms from the click).
async function stream(run, body, t0) {
  const route = state.contract.gateway.speech_route;
  const result = { route, firstByteMs: null, firstAudioMs: null, totalMs: null, pieces: 0 };
  const response = await fetch(route, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
    signal: run.abort.signal,
  });
  if (!response.ok) throw await serverError(response);
  const rate = Number(response.headers.get("X-Sample-Rate")) || state.voice.sample_rate;
  const player = new StreamPlayer(run.ctx, rate);
  run.player = player;
  const pieces = await readPcm(response.body, (samples) => {
    const starts = player.play(samples);
    if (result.firstAudioMs == null) {
      result.firstByteMs = performance.now() - t0;
      result.firstAudioMs = starts - t0;
    }
    result.pieces += 1;
  });
  result.totalMs = performance.now() - t0;
  // how long the first piece had been playing when the body ended
  result.playingMsAtEnd = player.playingMs();
  result.gaps = player.gaps;
  result.sampleRate = rate;
  result.audioSeconds = pieces.reduce((n, p) => n + p.length, 0) / rate;
  finish(pieces, rate, body);
  return result;
}

async function speak() {
  if (!state.voice) return;
  stop();
  clearError();
  const body = requestBody();
  window.playground.lastBody = body;
  $("request-body").textContent = `POST ${state.contract.gateway.speech_route}\n` +
    JSON.stringify(body, null, 2);
  const ctx = audioContext();
  await ctx.resume(); // Speak is the user's gesture that lets the page play
  const run = { abort: new AbortController(), ctx, player: null };
  state.run = run;
  $("stop").disabled = false;
  setState("speaking", "Speaking…");
  const t0 = performance.now();
  try {
    const result = await stream(run, body, t0);
    window.playground.lastRun = result;
    showStats(result);
    const lead = result.totalMs - result.firstAudioMs;
    setState("done", `Done: first audio ${Math.round(result.firstAudioMs)} ms, ` +
      `${Math.round(lead)} ms before the request finished.`);
  } catch (err) {
    if (state.run && state.run !== run) return; // a newer Speak took over
    if (err.name === "AbortError") {
      setState("idle", "Stopped.");
    } else {
      setState("error", "The server refused the request.");
      const shown = err instanceof ServerError ? err
        : new ServerError(`the stream broke: ${err.message}`);
      showError(shown);
      window.playground.lastRun = { error: shown.message, field: shown.field };
    }
  } finally {
    if (state.run === run) state.run = null;
    $("stop").disabled = true;
  }
}

function finish(pieces, rate, body) {
  if (state.wavUrl) URL.revokeObjectURL(state.wavUrl);
  state.wavUrl = URL.createObjectURL(wavBlob(pieces, rate));
  $("audio").src = state.wavUrl;
  const link = $("download");
  link.href = state.wavUrl;
  link.download = `${body.model}-${body.voice}${body.seed ? `-seed${body.seed}` : ""}.wav`;
  link.removeAttribute("aria-disabled");
}

// ---- wiring ------------------------------------------------------------------------------

function init() {
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) $("api-key").value = key;
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem(KEY_STORE, $("api-key").value.trim());
    loadContract();
  });
  $("voice").addEventListener("change", selectVoice);
  $("speaker").addEventListener("change", resetKnobs);
  $("reset").addEventListener("click", resetKnobs);
  $("seed-random").addEventListener("click", () => {
    // a fresh seed the page shows, so a voice the user likes can be had again
    const words = crypto.getRandomValues(new Uint32Array(2));
    $("seed").value = String(words[0] * 2 ** 21 + (words[1] >>> 11));
  });
  $("speak").addEventListener("click", speak);
  $("stop").addEventListener("click", () => {
    stop();
    setState("idle", "Stopped.");
  });
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      speak();
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.run) {
      stop();
      setState("idle", "Stopped.");
    }
  });
  loadContract();
}

init();
