// The nodejs20.x runtime's bootstrap: loads the function's handler and serves its invocations over
// the Lambda Runtime API, the way AWS's own Node.js runtime client does.
//
// It runs as the container's entrypoint (`node /var/runtime/bootstrap.mjs`), uses only Node's
// standard library and never imports faas. Its parts, beside it in /var/runtime: runtime-api.mjs
// (the HTTP client), log-capture.mjs (the function's log), user-function.mjs (loading the handler),
// streaming.mjs (the `awslambda` global and response streaming), faas-prewarm.cjs (loaded by a
// prewarmed container while it waits).
//
// Inputs (environment):
//   AWS_LAMBDA_RUNTIME_API   host:port of the Runtime API (no scheme)
//   _HANDLER                 `file.export` or `dir/file.export` (the export may be nested: `file.a.b`)
//   LAMBDA_TASK_ROOT         the function's code (default /var/task)
//   AWS_LAMBDA_FUNCTION_NAME, _VERSION, _MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME, _LOG_STREAM_NAME
//                            copied into the context object
//   AWS_LAMBDA_LOG_LEVEL     optional: console methods below this level do nothing (as on AWS)
//   AWS_LAMBDA_LOG_FORMAT    optional: JSON makes console methods write AWS's JSON objects
//   FAAS_PREWARMED           set in a prewarmed, generic container: wait to be specialised first
//
// Prewarmed start (a faas extension): with FAAS_PREWARMED set, the bootstrap long-polls
// `GET /runtime/faas/specialize`; a 200 answer `{"environment": {...}}` is merged into process.env,
// FAAS_PREWARMED is removed, and the start continues as a normal one. Anything else: exit 1.
//
// Handlers, as in AWS's client: the handler is always called as (event, context, callback).
// A returned promise (thenable) completes the invocation when it settles. Any other return value
// is ignored: the invocation completes through callback / context.done|succeed|fail, or, if none
// is called, with `null` once the event loop is empty ('beforeExit'); an `async` function whose
// promise never settles fails with Runtime.NodeJsExit instead. callback(null, result) waits for the
// event loop to be empty while context.callbackWaitsForEmptyEventLoop is true (the default).
//
// Streaming handlers (awslambda.streamifyResponse, see streaming.mjs) are called as (event,
// responseStream, context) and must return a promise; the invocation ends when it has settled and the
// stream has ended. A failure is POSTed to /error before the stream ends with AWS's error trailers (the Runtime API reads
// either; faas's before 2026-12 read only the /error). A failure before anything was written is a plain /error.
//
// Output: console.* write AWS-style lines `<ISO time>\t<request id>\t<LEVEL>\t<message>`, and they
// and process.stdout/stderr.write go synchronously to fds 1 and 2, as child processes' output does.
// The platform reads the container's stdout and stderr from a pipe of its own and takes what was
// written since the previous invocation when the answer arrives; output of the init phase is part
// of the first invocation's log (or of the init error's), and what was written before a crash
// (process.exit() in a handler, say) stays in its invocation's log.
//
// Where faas differs from AWS's client, on purpose: an event whose Content-Type is not
// application/json reaches the handler as a Buffer, and a Buffer (Uint8Array) result is sent as is
// (as the python runtime does with bytes); getRemainingTimeInMillis() is never negative; the
// bootstrap's own frames are left out of an error's `trace`; a missing package imported by an ES
// module (ERR_MODULE_NOT_FOUND) is a Runtime.ImportModuleError too; console lines keep their
// newlines (the platform's log is text, not CloudWatch records).

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { finished } from 'node:stream/promises';
import util from 'node:util';

import { LogCapture, patchConsole } from './log-capture.mjs';
import { RuntimeApi, RuntimeApiError } from './runtime-api.mjs';
import { HANDLER_HIGHWATERMARK, ResponseStream, awslambda, isStreaming } from './streaming.mjs';
import { loadHandler, runtimeErrorClass } from './user-function.mjs';

const require = createRequire(import.meta.url);

const REQUEST_ID_SYMBOL = Symbol.for('aws.lambda.runtime.requestId');
const RUNTIME_DIR_URL = new URL('.', import.meta.url).href; // frames of these files are not the user's

// --- errors -------------------------------------------------------------------------------------

const NodeJsExit = runtimeErrorClass('NodeJsExit');
const UnhandledPromiseRejection = runtimeErrorClass('UnhandledPromiseRejection');

function looksLikeError(value) {
  return value && typeof value.name === 'string' && typeof value.message === 'string'
    && typeof value.stack === 'string' && value.name && value.message && value.stack;
}

/** The body of /error and /init/error: `{errorType, errorMessage, trace}` as AWS's client sends it;
 * a thrown non-Error (a string, say) becomes `{errorType: typeof value, errorMessage: String(value)}`. */
function errorBody(error) {
  try {
    if (util.types.isNativeError(error) || looksLikeError(error)) {
      const trace = error.stack.split('\n').filter((line) => !line.includes(RUNTIME_DIR_URL));
      return { errorType: error.name, errorMessage: error.message, trace };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while retrieving '
        + 'one or more of its message, name, and stack',
      trace: [],
    };
  }
}

// Error properties are not enumerable: show them (and the user's own) in the log line.
function withErrorProperties(_key, value) {
  if (!(value instanceof Error)) {
    return value;
  }
  const shown = { errorType: value.name, errorMessage: value.message, code: value.code, ...value };
  if (typeof value.stack === 'string') {
    shown.stack = value.stack.split('\n');
  }
  return shown;
}

function formatError(error) {
  const asError = error instanceof Error ? error : new Error(error);
  try {
    return '\t' + JSON.stringify(asError, withErrorProperties);
  } catch {
    return '\t' + JSON.stringify(errorBody(asError));
  }
}

// --- (un)marshalling ----------------------------------------------------------------------------

function decodeEvent(body, contentType) {
  // Like the python runtime (and awslambdaric): JSON only when the event says it is JSON; else the
  // raw bytes as a Buffer. The platform's /next always says application/json.
  if (contentType === 'application/json'
      || (contentType || '').split(';')[0].trim().toLowerCase() === 'application/json') {
    return JSON.parse(body.toString('utf8'));
  }
  return body;
}

/** [body, content type]; a Buffer (or other byte array) result is sent as is. */
function encodeResult(result) {
  if (result instanceof Uint8Array) {
    return [Buffer.from(result.buffer, result.byteOffset, result.byteLength), 'application/unknown'];
  }
  let text;
  try {
    text = JSON.stringify(result === undefined ? null : result);
  } catch {
    throw new Error('Unable to stringify response body');
  }
  // JSON.stringify answers undefined for a function or symbol result
  return [Buffer.from(text === undefined ? 'null' : text), 'application/json'];
}

function parseJsonHeader(value, name) {
  if (value === undefined) {
    return undefined;
  }
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new Error(`Cannot parse ${name} as json: ${error}`);
  }
}

// --- the invocation -----------------------------------------------------------------------------

const noop = () => {};

class Invocation {
  constructor(runtime, requestId, headers) {
    this.runtime = runtime;
    this.requestId = requestId;
    this.headers = headers;
    this.completed = false;
  }

  /** The context object and callback for the handler, with AWS's rules: the first of callback,
   * done, succeed and fail wins; a successful callback waits for an empty event loop unless
   * callbackWaitsForEmptyEventLoop was set to false. */
  prepare(fields) {
    const runtime = this.runtime;
    let waitForEmptyEventLoop = true;
    let finished = false;
    const firstOnly = (fn) => (...args) => {
      if (!finished) {
        finished = true;
        fn(...args);
      }
    };
    const callback = firstOnly((error, result) => {
      runtime.beforeExit = noop;
      if (error !== undefined && error !== null) {
        this.fail(error);
      } else if (!waitForEmptyEventLoop) {
        this.succeed(result);
      } else {
        runtime.beforeExit = () => setImmediate(() => this.succeed(result));
      }
    });
    const done = firstOnly((error, result) => {
      runtime.beforeExit = noop;
      if (error !== undefined && error !== null) {
        this.fail(error);
      } else {
        this.succeed(result);
      }
    });
    const headers = this.headers;
    const deadlineMs = Number(headers['lambda-runtime-deadline-ms']) || 0;
    const context = {
      get callbackWaitsForEmptyEventLoop() {
        return waitForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(value) {
        waitForEmptyEventLoop = value;
      },
      succeed: (result) => done(null, result),
      fail: (error) => done(error === undefined || error === null ? 'handled' : error, null),
      done,
      ...fields,
      clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
      identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: this.requestId,
      getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
    };
    return [context, callback];
  }

  succeed(result) {
    let body;
    let contentType;
    try {
      [body, contentType] = encodeResult(result);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.finish('response', body, contentType);
  }

  fail(error) {
    this.runtime.logError('Invoke Error', error);
    const payload = errorBody(error);
    this.finish('error', Buffer.from(JSON.stringify(payload)), 'application/json', payload.errorType);
  }

  /** A streaming handler's invocation: it ends once the handler's promise has settled and the stream
   * has ended, or at the first failure of either. */
  stream(handler, event, highWaterMark) {
    const runtime = this.runtime;
    const responseStream = new ResponseStream(
      (contentType) => runtime.api.openStream(`/invocation/${this.requestId}/response`, contentType), highWaterMark);
    this.responseStream = responseStream;
    const [context] = this.prepare(runtime.fields);
    runtime.beforeExit = () => this.finishStream(new NodeJsExit('The Lambda runtime client detected an unexpected '
      + 'Node.js exit code. This is most commonly caused by a Promise that was never settled.'));
    let result;
    try {
      result = handler(event, responseStream, context);
    } catch (error) {
      this.finishStream(error);
      return;
    }
    if (!result || typeof result.then !== 'function') {
      this.finishStream('Streaming does not support non-async handlers.'); // AWS's words, a string error too
      return;
    }
    result.then((value) => {
      if (value !== undefined) {
        console.warn('Streaming handlers ignore return values.');
      }
      return finished(responseStream);
    }).then(() => this.finishStream(null), (error) => this.finishStream(error));
  }

  finishStream(error) {
    if (this.completed) {
      return;
    }
    this.completed = true;
    const runtime = this.runtime;
    runtime.beforeExit = noop;
    runtime.posting = this.endStream(error);
    runtime.posting.then(() => runtime.serveNext(), (postError) => runtime.die(postError));
  }

  async endStream(error) {
    const runtime = this.runtime;
    let payload = null;
    if (error !== null && error !== undefined) {
      runtime.logError('Invoke Error', error);
      payload = errorBody(error);
    }
    if (payload) {
      await runtime.api.post(`/invocation/${this.requestId}/error`, Buffer.from(JSON.stringify(payload)),
        'application/json', payload.errorType);
      if (!this.responseStream.post) {
        return; // nothing was streamed: a plain error
      }
    }
    const status = await this.responseStream.finish(payload);
    if (status !== 202 && status !== 413) { // 413: over the size limit, which the platform has reported
      runtime.capture.diagnose(`POST /invocation/${this.requestId}/response (streaming) answered ${status}`);
    }
  }

  finish(outcome, body, contentType, errorType) {
    if (this.completed) {
      return;
    }
    this.completed = true;
    const runtime = this.runtime;
    runtime.beforeExit = noop;
    runtime.posting = runtime.post(this.requestId, outcome, body, contentType, errorType);
    runtime.posting.then(() => runtime.serveNext(), (error) => runtime.die(error));
  }
}

// --- the runtime --------------------------------------------------------------------------------

class Runtime {
  constructor() {
    this.capture = null;
    this.api = null;
    this.handler = null;
    this.handlerIsAsync = false;
    this.streaming = false; // awslambda.streamifyResponse(handler)
    this.fields = null;
    this.state = 'init'; // init -> idle (waiting on /next) <-> invoking
    this.current = null;
    this.posting = null; // the last invocation's outcome on its way to the Runtime API
    this.beforeExit = noop;
    this.dying = false;
  }

  async start() {
    const address = process.env.AWS_LAMBDA_RUNTIME_API;
    this.capture = new LogCapture();
    if (!address) {
      this.capture.diagnose('AWS_LAMBDA_RUNTIME_API is not set');
      process.exit(1);
    }
    process.on('uncaughtException', (error) => this.crash(error, 'Uncaught Exception', 129));
    process.on('unhandledRejection', (reason) => {
      const error = new UnhandledPromiseRejection(String(reason));
      error.reason = reason;
      if (typeof reason?.stack === 'string') {
        error.stack = [`${error.name}: ${error.message}`,
          ...reason.stack.split('\n').filter((line) => line.startsWith('    at '))].join('\n');
      }
      this.crash(error, 'Unhandled Promise Rejection', 128);
    });
    process.on('beforeExit', () => this.beforeExit());
    // As PID 1 in a container, SIGTERM without a handler would be ignored until SIGKILL.
    process.on('SIGTERM', () => this.terminate(143));
    try {
      this.api = new RuntimeApi(address, (message) => this.capture.diagnose(message));
      if (process.env.FAAS_PREWARMED) {
        // Init Duration counts from the specialize answer: load a module now, so that the import
        // machinery is warm then (about 2 ms less).
        await loadHandler(fileURLToPath(RUNTIME_DIR_URL), 'faas-prewarm.handler');
        await this.specialize();
      }
    } catch (error) {
      this.die(error);
      return;
    }
    patchConsole(this.capture);
    globalThis.awslambda = awslambda;
    try {
      this.handler = await loadHandler(process.env.LAMBDA_TASK_ROOT || '/var/task', process.env._HANDLER || '');
      this.streaming = isStreaming(this.handler);
      // One turn of the event loop: a promise the module's code left rejected surfaces now, as an init error.
      await new Promise(setImmediate);
    } catch (error) {
      await this.failInit(error, 1);
      return;
    }
    this.handlerIsAsync = this.handler.constructor?.name === 'AsyncFunction';
    const env = process.env;
    this.fields = {
      functionName: env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, // a string, as in AWS's client
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    };
    this.serveNext();
  }

  /** A prewarmed container waits here to be bound to a function, then takes on its environment. */
  async specialize() {
    const answer = await this.api.request('GET', '/faas/specialize');
    if (answer.status !== 200) {
      throw new RuntimeApiError(`GET /faas/specialize answered ${answer.status}: ${answer.body.subarray(0, 200)}`);
    }
    let environment;
    try {
      environment = JSON.parse(answer.body.toString('utf8')).environment;
    } catch {
      environment = null;
    }
    if (!environment || typeof environment !== 'object' || Array.isArray(environment)
        || Object.values(environment).some((value) => typeof value !== 'string')) {
      throw new RuntimeApiError('GET /faas/specialize: expected {"environment": {"NAME": "value", ...}}');
    }
    const nodePath = process.env.NODE_PATH;
    Object.assign(process.env, environment);
    delete process.env.FAAS_PREWARMED;
    if (process.env.NODE_PATH !== nodePath) {
      require('node:module')._initPaths?.(); // NODE_PATH is otherwise read once, at start
    }
  }

  serveNext() {
    if (this.dying) {
      return; // a crash is being reported: the process ends after that
    }
    this.serveOne().catch((error) => this.die(error));
  }

  async serveOne() {
    this.state = 'idle';
    const answer = await this.api.request('GET', '/invocation/next');
    if (answer.status !== 200) {
      throw new RuntimeApiError(`GET /invocation/next answered ${answer.status}: ${answer.body.subarray(0, 200)}`);
    }
    const headers = answer.headers;
    const requestId = headers['lambda-runtime-aws-request-id'];
    if (!requestId) {
      throw new RuntimeApiError('GET /invocation/next answered without Lambda-Runtime-Aws-Request-Id');
    }
    this.capture.requestId = requestId;
    globalThis[REQUEST_ID_SYMBOL] = requestId;
    if (headers['lambda-runtime-trace-id']) {
      process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
    } else {
      delete process.env._X_AMZN_TRACE_ID;
    }
    const invocation = new Invocation(this, requestId, headers);
    this.current = invocation;
    this.state = 'invoking';
    if (this.streaming) {
      let event;
      try {
        event = decodeEvent(answer.body, headers['content-type']);
      } catch (error) {
        invocation.fail(error);
        return;
      }
      invocation.stream(this.handler, event, this.handler[HANDLER_HIGHWATERMARK]);
      return;
    }
    // Neither callback nor promise: complete once the event loop is empty, as AWS does.
    this.beforeExit = this.handlerIsAsync
      ? () => invocation.fail(new NodeJsExit('The Lambda runtime client detected an unexpected Node.js exit '
        + 'code. This is most commonly caused by a Promise that was never settled.'))
      : () => invocation.succeed(null);
    let callback;
    try {
      let context;
      [context, callback] = invocation.prepare(this.fields);
      const handler = this.handler; // called as a plain function, not as a method of the runtime
      const result = handler(decodeEvent(answer.body, headers['content-type']), context, callback);
      if (result && typeof result.then === 'function') {
        result.then(context.succeed, context.fail).catch(context.fail);
      }
    } catch (error) {
      if (callback) {
        callback(error);
      } else {
        invocation.fail(error);
      }
    }
  }

  async post(requestId, outcome, body, contentType, errorType) {
    await this.api.post(`/invocation/${requestId}/${outcome}`, body, contentType, errorType);
  }

  logError(label, error) {
    this.capture.line('ERROR', [label, formatError(error)]);
  }

  async failInit(error, exitCode) {
    this.dying = true;
    this.logError('Uncaught Exception', error);
    try {
      const payload = errorBody(error);
      await this.api.post('/init/error', Buffer.from(JSON.stringify(payload)), 'application/json', payload.errorType);
    } catch (postError) {
      this.capture.diagnose(postError.message);
    }
    process.exit(exitCode);
  }

  /** An uncaught exception or unhandled rejection: it fails the running invocation (or the init),
   * and the process exits, as with AWS. */
  async crash(error, label, exitCode) {
    if (this.dying) {
      return;
    }
    this.dying = true;
    if (this.state === 'init') {
      await this.failInit(error, exitCode);
      return;
    }
    const invocation = this.current;
    if (this.state === 'invoking' && invocation && !invocation.completed) {
      invocation.completed = true;
      this.logError(label, error);
      const payload = errorBody(error);
      try {
        await this.post(invocation.requestId, 'error', Buffer.from(JSON.stringify(payload)), 'application/json',
          payload.errorType);
        await invocation.responseStream?.post?.end(payload); // a stream that began ends with the error too
      } catch (postError) {
        this.capture.diagnose(postError.message);
      }
    } else {
      // Between invocations: nobody to report it to but the container's log. An outcome still
      // on its way is let through first.
      if (this.state === 'invoking') {
        await this.posting?.catch(noop);
      }
      this.logError(label, error);
      this.capture.diagnose(`${label} between invocations: exiting`);
    }
    process.exit(exitCode);
  }

  terminate(exitCode) {
    process.exit(exitCode); // the output so far is in the pipe already
  }

  die(error) {
    this.capture.diagnose(error instanceof RuntimeApiError ? error.message : (error?.stack || String(error)));
    process.exit(1);
  }
}

const runtime = new Runtime();

// Run when started as the entrypoint; tests import the module to reach its parts.
if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  runtime.start().catch((error) => runtime.die(error));
}

