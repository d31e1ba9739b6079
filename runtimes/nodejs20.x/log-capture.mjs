// The function's log in the nodejs20.x bootstrap: process.stdout/stderr and console.* to fds 1 and 2.

import fs from 'node:fs';
import util from 'node:util';

/** The function's output: process.stdout/stderr and console.* written synchronously to fds 1 and 2,
 * which the platform reads from a pipe of its own; nothing is held in memory, so what was written
 * before an answer, or before a crash, is in the pipe already. */
export class LogCapture {
  constructor() {
    this.requestId = undefined; // printed as "undefined" before the first invocation, as on AWS
    const writer = (fd) => function write(chunk, encoding, callback) {
      if (typeof encoding === 'function') {
        [callback, encoding] = [encoding, undefined];
      }
      emit(fd, typeof chunk === 'string' ? Buffer.from(chunk, encoding || 'utf8') : chunk);
      if (typeof callback === 'function') {
        process.nextTick(callback);
      }
      return true;
    };
    process.stdout.write = writer(1);
    process.stderr.write = writer(2);
  }

  line(level, args) {
    emit(1, `${new Date().toISOString()}\t${this.requestId}\t${level}\t${util.format(...args)}\n`);
  }

  /** A console call as the JSON object AWS's Node runtime writes with LogFormat JSON. */
  jsonLine(level, args) {
    const entry = { timestamp: new Date().toISOString(), level, requestId: this.requestId, message: util.format(...args) };
    const error = args.length === 1 && args[0] instanceof Error ? args[0] : undefined;
    if (error) {
      Object.assign(entry, { errorType: error.name, errorMessage: error.message, stackTrace: String(error.stack).split('\n') });
    }
    emit(1, `${JSON.stringify(entry)}\n`);
  }

  diagnose(message) {
    emit(2, `faas bootstrap: ${message}\n`); // the bootstrap's own trouble: the function's log shows it
  }
}

function emit(fd, data) {
  try {
    writeAllSync(fd, data);
  } catch {
    // the container's stdout is gone: nowhere left to write it
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Synchronous, so the output is in the pipe before the answer and nothing is lost at process.exit;
 * fds 1 and 2 may be non-blocking pipes. */
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
