// The function's log in the nodejs20.x bootstrap: process.stdout/stderr and console.* into memory.

import fs from 'node:fs';
import util from 'node:util';

const LOG_LIMIT_BYTES = 1024 * 1024;

/** process.stdout/stderr.write and console.* into memory, read back and emptied per invocation. */
export class LogCapture {
  constructor() {
    this.chunks = [];
    this.bytes = 0;
    this.hasBuffers = false;
    this.requestId = undefined; // printed as "undefined" before the first invocation, as on AWS
    const capture = this;
    function write(chunk, encoding, callback) {
      if (typeof encoding === 'function') {
        [callback, encoding] = [encoding, undefined];
      }
      capture.add(chunk, encoding);
      if (typeof callback === 'function') {
        process.nextTick(callback);
      }
      return true;
    }
    process.stdout.write = write;
    process.stderr.write = write;
  }

  add(chunk, encoding) {
    let size;
    if (typeof chunk === 'string') {
      if (encoding && encoding !== 'utf8' && encoding !== 'utf-8') {
        chunk = Buffer.from(chunk, encoding);
        this.hasBuffers = true;
        size = chunk.length;
      } else {
        size = Buffer.byteLength(chunk);
      }
    } else {
      chunk = Buffer.from(chunk); // a copy: the writer may reuse its buffer
      this.hasBuffers = true;
      size = chunk.length;
    }
    this.chunks.push(chunk);
    this.bytes += size;
    if (this.bytes > 2 * LOG_LIMIT_BYTES) {
      this.dropHead();
    }
  }

  /** Forget whole chunks that cannot be part of the last LOG_LIMIT_BYTES. */
  dropHead() {
    let drop = 0;
    let bytes = this.bytes;
    while (drop < this.chunks.length - 1) {
      const size = Buffer.byteLength(this.chunks[drop]);
      if (bytes - size < LOG_LIMIT_BYTES) {
        break;
      }
      bytes -= size;
      drop += 1;
    }
    this.chunks.splice(0, drop);
    this.bytes = bytes;
  }

  line(level, args) {
    this.add(`${new Date().toISOString()}\t${this.requestId}\t${level}\t${util.format(...args)}\n`);
  }

  /** A console call as the JSON object AWS's Node runtime writes with LogFormat JSON. */
  jsonLine(level, args) {
    const entry = { timestamp: new Date().toISOString(), level, requestId: this.requestId, message: util.format(...args) };
    const error = args.length === 1 && args[0] instanceof Error ? args[0] : undefined;
    if (error) {
      Object.assign(entry, { errorType: error.name, errorMessage: error.message, stackTrace: String(error.stack).split('\n') });
    }
    this.add(`${JSON.stringify(entry)}\n`);
  }

  /** Everything written since the last call (its last 1 MiB) as valid UTF-8, or null. */
  take() {
    if (!this.bytes) {
      return null;
    }
    let data;
    if (this.hasBuffers) {
      const joined = Buffer.concat(this.chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
      data = Buffer.from(joined.toString('utf8')); // invalid sequences become U+FFFD
    } else {
      data = Buffer.from(this.chunks.join(''));
    }
    this.chunks = [];
    this.bytes = 0;
    this.hasBuffers = false;
    if (data.length > LOG_LIMIT_BYTES) {
      let start = data.length - LOG_LIMIT_BYTES;
      while (start < data.length && (data[start] & 0xc0) === 0x80) {
        start += 1; // not in the middle of a character
      }
      data = data.subarray(start);
    }
    return data;
  }

  writeOriginal(data) {
    try {
      writeAllSync(1, data);
    } catch {
      // the container's stdout is gone: nowhere left to write it
    }
  }

  diagnose(message) {
    // The bootstrap's own trouble goes to the container's real stderr, not the function's log.
    try {
      writeAllSync(2, `faas bootstrap: ${message}\n`);
    } catch {
      // nowhere left to say it
    }
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Synchronous, so nothing is lost at process.exit; fds 1 and 2 may be non-blocking pipes. */
function writeAllSync(fd, data) {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += fs.writeSync(fd, bytes, offset);
    } catch (error) {
      if (error.code !== 'EAGAIN') {
        throw error;
      }
      Atomics.wait(pause, 0, 0, 1); // the reader is behind: wait a millisecond
    }
  }
}

const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };

/** console.* as AWS patches them; AWS_LAMBDA_LOG_LEVEL silences the levels below it, and
 * AWS_LAMBDA_LOG_FORMAT=JSON writes JSON objects (whose level defaults to INFO, as on AWS). */
export function patchConsole(capture) {
  const json = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
  const minimum = LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] ?? (json ? LEVELS.INFO : LEVELS.TRACE);
  const nothing = () => {};
  const write = json ? (level, args) => capture.jsonLine(level, args) : (level, args) => capture.line(level, args);
  const logger = (level) => (LEVELS[level] >= minimum ? (...args) => write(level, args) : nothing);
  console.trace = logger('TRACE');
  console.debug = logger('DEBUG');
  console.info = logger('INFO');
  console.log = console.info;
  console.warn = logger('WARN');
  console.error = logger('ERROR');
  console.fatal = (...args) => write('FATAL', args);
}
