// Streamed speech into Web Audio: the body of POST /v1/audio/speech with response_format
// "pcm" is mono little-endian 16-bit PCM at the X-Sample-Rate header's rate, sent in pieces
// as the server decodes them (per vocoder window where the voice has a stream model). Each
// piece is scheduled right after the previous one the moment it arrives; the pieces are kept
// for the WAV of the whole.

const LEAD_S = 0.05; // scheduling margin before a piece starts (seconds of Web Audio time)

// The pieces of one body as Int16Arrays, in order: `onPiece(samples)` is called per read
// (a sample split between two reads is carried over). Returns every piece.
export async function readPcm(body, onPiece) {
  const reader = body.getReader();
  const pieces = [];
  let carry = null; // an odd byte left from the previous read
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return pieces;
    let bytes = value;
    if (carry) {
      bytes = new Uint8Array(carry.length + value.length);
      bytes.set(carry);
      bytes.set(value, carry.length);
      carry = null;
    }
    const even = bytes.length - (bytes.length % 2);
    if (even < bytes.length) carry = bytes.slice(even);
    if (!even) continue;
    const samples = new Int16Array(bytes.slice(0, even).buffer);
    pieces.push(samples);
    onPiece(samples);
  }
}

// Plays pieces back to back on one AudioContext; `stop()` silences what is scheduled.
export class StreamPlayer {
  constructor(ctx, rate) {
    this.ctx = ctx;
    this.rate = rate;
    this.sources = [];
    this.next = 0; // when the next piece starts (AudioContext seconds)
    this.first = null; // when the first piece starts
    this.gaps = 0; // pieces that came after the previous one had finished playing
  }

  // Schedule one piece; returns when it starts, as a performance.now() time (ms).
  play(samples) {
    const ctx = this.ctx;
    const buffer = ctx.createBuffer(1, samples.length, this.rate);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32767;
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    const now = ctx.currentTime;
    if (this.next > 0 && this.next < now) this.gaps += 1;
    const start = Math.max(this.next, now + LEAD_S);
    source.start(start);
    this.sources.push(source);
    this.next = start + buffer.duration;
    if (this.first == null) this.first = start;
    return performance.now() + (start - now) * 1000;
  }

  // How long the first piece has been playing (ms; < 0: not started yet; null: no piece).
  playingMs() {
    return this.first == null ? null : (this.ctx.currentTime - this.first) * 1000;
  }

  stop() {
    for (const source of this.sources) {
      try {
        source.stop();
      } catch {
        // not started yet
      }
    }
  }
}

// A mono 16-bit WAV of the pieces.
export function wavBlob(pieces, rate) {
  const bytes = pieces.reduce((n, p) => n + p.byteLength, 0);
  const head = new DataView(new ArrayBuffer(44));
  const text = (at, s) => [...s].forEach((c, i) => head.setUint8(at + i, c.charCodeAt(0)));
  text(0, "RIFF");
  head.setUint32(4, 36 + bytes, true);
  text(8, "WAVEfmt ");
  head.setUint32(16, 16, true);
  head.setUint16(20, 1, true); // PCM
  head.setUint16(22, 1, true); // mono
  head.setUint32(24, rate, true);
  head.setUint32(28, rate * 2, true);
  head.setUint16(32, 2, true);
  head.setUint16(34, 16, true);
  text(36, "data");
  head.setUint32(40, bytes, true);
  return new Blob([head.buffer, ...pieces], { type: "audio/wav" });
}
