// The Runtime API client of the nodejs20.x bootstrap: one kept-alive HTTP/1.1 connection.

import net from 'node:net';

const API_PREFIX = '/2018-06-01/runtime';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const ERROR_BODY_TRAILER = 'Lambda-Runtime-Function-Error-Body';
const RESPONSE_MODE_HEADER = 'Lambda-Runtime-Function-Response-Mode';
const HEADER_VALUE = /^[\x21-\x7e][\x20-\x7e]*$/; // a value that cannot break the message

/** The Runtime API cannot be reached or broke the protocol: the environment is unusable. */
export class RuntimeApiError extends Error {}
const NO_BODY = Buffer.alloc(0);
const MAX_HEAD_BYTES = 64 * 1024;

/** A small HTTP/1.1 client on one persistent keep-alive connection to the Runtime API.
 *
 * Not node:http: its client (ClientRequest, Agent, llhttp, streams) costs ~0.3 ms of CPU per warm
 * invocation once JIT-compiled and ~0.5 ms averaged over a container's first thousands, on the
 * same cores the platform needs; this costs about a third of that. One request at a time, as the
 * runtime never needs more. An idle connection is unref'd so that it never keeps the event loop
 * alive (callbackWaitsForEmptyEventLoop relies on that, as AWS's client relies on its Agent's).
 */
export class RuntimeApi {
  constructor(address, diagnose) {
    const colon = address.lastIndexOf(':');
    const port = Number(address.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new RuntimeApiError(`AWS_LAMBDA_RUNTIME_API must be host:port, got '${address}'`);
    }
    this.host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    this.port = port;
    this.hostHeader = address;
    this.diagnose = diagnose;
    this.socket = null;
    this.reused = false; // the connection has answered a request before
    this.pending = null; // the request in flight
    this.response = null; // its response, once the head is read
    this.leftover = null; // bytes of a head or chunk-size line not complete yet
  }

  /** {status, headers (lower-case names), body: Buffer}. No timeout: /next is a long poll.
   * `headerLines`: extra header lines, each ending in CRLF. */
  request(method, apiPath, body = NO_BODY, headerLines = '', retried = false) {
    if (this.pending) {
      return Promise.reject(new RuntimeApiError(`${method} ${apiPath}: a request is already in flight`));
    }
    return new Promise((resolve, reject) => {
      if (!this.socket) {
        this.connect();
      }
      this.pending = { method, apiPath, body, headerLines, retried, reused: this.reused, answered: false,
        resolve, reject };
      const head = `${method} ${API_PREFIX}${apiPath} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n`
        + `Content-Length: ${body.length}\r\n${headerLines}\r\n`;
      const socket = this.socket;
      socket.ref();
      if (body.length) {
        socket.cork(); // head and body in one segment
        socket.write(head, 'latin1');
        socket.write(body);
        socket.uncork();
      } else {
        socket.write(head, 'latin1');
      }
    });
  }

  connect() {
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    socket.on('data', (data) => this.onData(socket, data));
    socket.on('error', (error) => this.onClose(socket, error));
    socket.on('close', () => this.onClose(socket, null));
    this.socket = socket;
    this.reused = false;
    this.response = null;
    this.leftover = null;
  }

  onClose(socket, error) {
    if (socket !== this.socket) {
      return; // 'close' after 'error', or a connection given up already
    }
    this.socket = null;
    const pending = this.pending;
    if (!pending) {
      return;
    }
    if (this.response?.untilClose) {
      this.complete(Buffer.concat(this.response.chunks), false);
      return;
    }
    this.pending = null;
    this.response = null;
    if (pending.reused && !pending.answered && !pending.retried) {
      // A kept-alive connection the server closed meanwhile is retried once, fresh.
      this.request(pending.method, pending.apiPath, pending.body, pending.headerLines, true)
        .then(pending.resolve, pending.reject);
      return;
    }
    const reason = error ? error.message : 'the Runtime API closed the connection';
    pending.reject(new RuntimeApiError(`${pending.method} ${pending.apiPath}: ${reason}`));
  }

  onData(socket, data) {
    if (socket !== this.socket || !this.pending) {
      socket.destroy(); // nobody asked: the connection is out of step
      return;
    }
    this.pending.answered = true;
    let input = this.leftover ? Buffer.concat([this.leftover, data]) : data;
    this.leftover = null;
    try {
      while (input.length && this.pending) {
        input = this.response ? this.readBody(input) : this.readHead(input);
        if (input === null) {
          return; // needs more bytes
        }
      }
    } catch (error) {
      this.fail(error);
    }
  }

  readHead(input) {
    const end = input.indexOf('\r\n\r\n');
    if (end < 0) {
      if (input.length > MAX_HEAD_BYTES) {
        throw new Error('response head too long');
      }
      this.leftover = input;
      return null;
    }
    const lines = input.toString('latin1', 0, end).split('\r\n');
    const [version, code] = lines[0].split(' ', 2);
    const status = Number(code);
    if (!version.startsWith('HTTP/1.') || !Number.isInteger(status)) {
      throw new Error(`not an HTTP/1.x response: ${JSON.stringify(lines[0].slice(0, 100))}`);
    }
    input = input.subarray(end + 4);
    if (status >= 100 && status < 200) {
      return input; // an interim answer (100 Continue): the real one follows
    }
    const headers = {};
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(':');
      if (colon > 0) {
        headers[lines[i].slice(0, colon).trim().toLowerCase()] = lines[i].slice(colon + 1).trim();
      }
    }
    const connection = (headers.connection || '').toLowerCase();
    const response = {
      status, headers, chunks: [], remaining: 0, chunked: false, untilClose: false, state: 'size',
      keepAlive: version === 'HTTP/1.0' ? connection === 'keep-alive' : connection !== 'close',
    };
    this.response = response;
    if (status === 204 || status === 304) {
      // no body
    } else if (/\bchunked\b/i.test(headers['transfer-encoding'] || '')) {
      response.chunked = true;
      return input;
    } else if (headers['content-length'] !== undefined) {
      response.remaining = Number(headers['content-length']);
      if (!Number.isSafeInteger(response.remaining) || response.remaining < 0) {
        throw new Error(`bad Content-Length ${headers['content-length']}`);
      }
    } else {
      response.untilClose = true; // no length: the body ends with the connection
      return input;
    }
    if (response.remaining === 0) {
      this.complete(NO_BODY, response.keepAlive);
    }
    return input;
  }

  readBody(input) {
    const response = this.response;
    if (response.untilClose) {
      response.chunks.push(input);
      return NO_BODY;
    }
    if (!response.chunked) {
      const size = Math.min(input.length, response.remaining);
      response.chunks.push(input.subarray(0, size));
      response.remaining -= size;
      if (response.remaining === 0) {
        const body = response.chunks.length === 1 ? response.chunks[0] : Buffer.concat(response.chunks);
        this.complete(body, response.keepAlive);
      }
      return input.subarray(size);
    }
    // chunked: <hex size>[;ext]CRLF <data> CRLF ... 0 CRLF [trailers] CRLF
    if (response.state === 'data') {
      const size = Math.min(input.length, response.remaining);
      response.chunks.push(input.subarray(0, size));
      response.remaining -= size;
      if (response.remaining === 0) {
        response.state = 'data-end';
      }
      return input.subarray(size);
    }
    if (response.state === 'data-end') {
      if (input.length < 2) {
        this.leftover = input;
        return null;
      }
      response.state = 'size';
      return input.subarray(2);
    }
    const end = input.indexOf('\r\n');
    if (end < 0) {
      if (input.length > MAX_HEAD_BYTES) {
        throw new Error('chunk line too long');
      }
      this.leftover = input;
      return null;
    }
    const line = input.toString('latin1', 0, end);
    input = input.subarray(end + 2);
    if (response.state === 'trailers') {
      if (line === '') {
        this.complete(Buffer.concat(response.chunks), response.keepAlive);
      }
      return input;
    }
    const size = parseInt(line.split(';')[0], 16);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new Error(`bad chunk size ${JSON.stringify(line.slice(0, 20))}`);
    }
    response.remaining = size;
    response.state = size === 0 ? 'trailers' : 'data';
    return input;
  }

  complete(body, keepAlive) {
    const { status, headers } = this.response;
    const pending = this.pending;
    this.response = null;
    this.pending = null;
    if (!keepAlive) {
      this.socket?.destroy();
      this.socket = null;
    } else {
      this.reused = true;
      this.socket.unref();
    }
    pending.resolve({ status, headers, body });
  }

  fail(error) {
    const pending = this.pending;
    this.pending = null;
    this.response = null;
    this.socket?.destroy();
    this.socket = null;
    pending?.reject(new RuntimeApiError(`${pending.method} ${pending.apiPath}: ${error.message}`));
  }

  /** A streamed response to `apiPath`, on a connection of its own (see StreamingPost). */
  openStream(apiPath, contentType) {
    return new StreamingPost(this.host, this.port, this.hostHeader, API_PREFIX + apiPath, contentType);
  }

  async post(apiPath, body, contentType, errorType) {
    let headerLines = `Content-Type: ${contentType}\r\n`;
    if (errorType && HEADER_VALUE.test(errorType)) { // a class name can be anything
      headerLines += `${ERROR_TYPE_HEADER}: ${errorType}\r\n`;
    }
    const answer = await this.request('POST', apiPath, body, headerLines);
    if (answer.status >= 300) {
      this.diagnose(`POST ${apiPath} answered ${answer.status}: ${answer.body.subarray(0, 200)}`);
    }
    return answer.status;
  }
}

/** One chunked POST of a streamed response, as AWS's runtime client sends it: each chunk goes out as it
 * is written, and the end carries the error trailers when the invocation failed. Its own connection,
 * closed after the answer: the kept-alive one stays free for the logs and /error meanwhile.
 *
 * write()'s callback runs once the socket has taken the chunk (the caller's backpressure). A connection
 * the Runtime API broke (it refuses a response over its size limit with a 413 and stops reading) takes
 * the rest of the chunks and drops them: the invocation has failed already, and the handler runs on to its
 * end as it would on Lambda. */
export class StreamingPost {
  constructor(host, port, hostHeader, path, contentType) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.broken = null;
    this.ended = false; // the last chunk is written
    this.answer = new Promise((resolve) => {
      let received = NO_BODY;
      this.socket.on('data', (data) => {
        received = Buffer.concat([received, data]);
        if (answerComplete(received)) { // the whole answer: done with this connection
          this.socket.destroy();
        }
      });
      this.socket.on('error', (error) => {
        this.broken = error;
      });
      this.socket.on('close', () => resolve(statusOf(received)));
    });
    const type = HEADER_VALUE.test(contentType) ? contentType : 'application/octet-stream';
    this.socket.write(`POST ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n`
      + `${RESPONSE_MODE_HEADER}: streaming\r\nTransfer-Encoding: chunked\r\n`
      + `Trailer: ${ERROR_TYPE_HEADER}, ${ERROR_BODY_TRAILER}\r\nContent-Type: ${type}\r\n\r\n`, 'latin1');
  }

  write(chunk, callback) {
    if (this.broken || this.ended || !chunk.length) {
      callback();
      return;
    }
    const socket = this.socket;
    socket.cork();
    socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    socket.write('\r\n', 'latin1', () => callback()); // an error is this.broken's, reported at the end
    socket.uncork();
  }

  /** The last chunk (with the error trailers of `errorPayload`, if given); resolves with the answer's
   * status (0 when there was none). */
  end(errorPayload) {
    if (!this.broken && !this.ended) {
      let last = '0\r\n';
      if (errorPayload) {
        const type = HEADER_VALUE.test(errorPayload.errorType) ? errorPayload.errorType : 'Unhandled';
        last += `${ERROR_TYPE_HEADER}: ${type}\r\n`
          + `${ERROR_BODY_TRAILER}: ${Buffer.from(JSON.stringify(errorPayload)).toString('base64')}\r\n`;
      }
      // write, not end: a half-closed connection makes the Runtime API's server drop the request before
      // it has handled the end of the body. The server closes the connection once it has answered.
      this.socket.write(last + '\r\n', 'latin1');
      this.ended = true;
    }
    return this.answer;
  }
}

function answerComplete(answer) {
  const end = answer.indexOf('\r\n\r\n');
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(answer.toString('latin1', 0, Math.max(end, 0)));
  return end >= 0 && length !== null && answer.length >= end + 4 + Number(length[1]);
}

function statusOf(answer) {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(answer.toString('latin1', 0, 16));
  return match ? Number(match[1]) : 0;
}
