// Response streaming in the nodejs20.x bootstrap: the `awslambda` global that Lambda's Node.js runtime
// defines (streamifyResponse, HttpResponseStream.from) and the response stream a streaming handler is
// given, with the behaviour of AWS's runtime client (aws-lambda-nodejs-runtime-interface-client):
//
// - streamifyResponse(handler, {highWaterMark}) marks the handler with the symbol AWS's client looks for
//   and returns it; the handler is then called as (event, responseStream, context).
// - The stream is a Writable: what the handler writes goes to the Runtime API as it is written, in one
//   chunked POST /invocation/{id}/response with `Lambda-Runtime-Function-Response-Mode: streaming`,
//   on a connection of its own (the bootstrap's other requests use the kept-alive one meanwhile).
//   A write is done once the socket took it, so pipeline() and write()'s return value see the
//   network's backpressure. Strings, Buffers and Uint8Arrays are sent as they are, anything else as
//   JSON, as AWS's client does.
// - setContentType() only before the first write; HttpResponseStream.from(stream, {statusCode, headers,
//   cookies}) sets application/vnd.awslambda.http-integration-response and writes the JSON prelude and
//   8 NUL bytes before the first chunk (or at the end, when nothing was written).
// - An error mid-stream ends the POST with the trailers Lambda-Runtime-Function-Error-Type and
//   Lambda-Runtime-Function-Error-Body (base64 of the error's JSON).

import { Writable } from 'node:stream';

import { runtimeErrorClass } from './user-function.mjs';

export const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
export const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
export const STREAM_RESPONSE = 'response';
const HTTP_INTEGRATION = 'application/vnd.awslambda.http-integration-response';
const DELIMITER_LEN = 8;
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

export const MalformedStreamingHandler = runtimeErrorClass('MalformedStreamingHandler');

export class InvalidStreamingOperation extends Error {}
InvalidStreamingOperation.prototype.name = 'Runtime.InvalidStreamingOperation';

class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(HTTP_INTEGRATION);
    const metadataPrelude = JSON.stringify(prelude); // JSON never holds a NUL byte: the delimiter is safe
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(DELIMITER_LEN));
    };
    return underlyingStream;
  }
}

export const awslambda = {
  streamifyResponse(handler, options) {
    handler[HANDLER_STREAMING] = STREAM_RESPONSE;
    if (typeof options?.highWaterMark === 'number') {
      handler[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark, 10);
    }
    return handler;
  },
  HttpResponseStream,
};

/** Whether the handler streams; a handler marked for another kind of streaming is an init error. */
export function isStreaming(handler) {
  const mode = handler[HANDLER_STREAMING];
  if (mode === undefined) {
    return false;
  }
  if (mode !== STREAM_RESPONSE) {
    throw new MalformedStreamingHandler('Only response streaming is supported.');
  }
  return true;
}

/** What a streaming handler writes to. `open(contentType)` starts the POST (a StreamingPost) at the
 * first chunk; the bootstrap ends it with finish() once the invocation is over. */
export class ResponseStream extends Writable {
  constructor(open, highWaterMark) {
    super(highWaterMark ? { highWaterMark } : {});
    this.open = open;
    this.post = null;
    this.contentType = DEFAULT_CONTENT_TYPE;
    this.started = false; // a write was called: too late for a content type
    this._onBeforeFirstWrite = undefined;
  }

  setContentType(contentType) {
    if (this.started) {
      throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    }
    this.contentType = contentType;
  }

  beforeFirstWrite() {
    if (!this.started) {
      this.started = true;
      if (typeof this._onBeforeFirstWrite === 'function') {
        this._onBeforeFirstWrite((chunk) => super.write(chunk));
      }
    }
  }

  write(chunk, encoding, callback) {
    if (typeof chunk !== 'string' && !Buffer.isBuffer(chunk) && chunk?.constructor !== Uint8Array) {
      chunk = JSON.stringify(chunk);
    }
    this.beforeFirstWrite();
    return super.write(chunk, encoding, callback);
  }

  end(chunk, encoding, callback) {
    if (typeof chunk === 'function') {
      return super.end(chunk);
    }
    if (chunk !== undefined && chunk !== null) {
      this.write(chunk, typeof encoding === 'string' ? encoding : undefined);
    }
    this.beforeFirstWrite(); // an HttpResponseStream that wrote nothing still has its status and headers
    return super.end(typeof encoding === 'function' ? encoding : callback);
  }

  _write(chunk, _encoding, callback) {
    this.post ??= this.open(this.contentType);
    this.post.write(chunk, callback);
  }

  /** End the POST: without trailers, or with the error ones. Resolves with the Runtime API's status. */
  finish(errorPayload) {
    this.post ??= this.open(this.contentType);
    return this.post.end(errorPayload);
  }
}
