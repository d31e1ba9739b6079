// The nodejs20.x runtime's bootstrap: loads the function's handler and serves its invocations over
// the Lambda Runtime API, the way AWS's own Node.js runtime client does.
//
// It runs as the container's entrypoint (`node /var/runtime/bootstrap.mjs`), uses only Node's
// standard library and never imports faas.
//
// Inputs (environment):
//   AWS_LAMBDA_RUNTIME_API   host:port of the Runtime API (no scheme)
//   _HANDLER                 `file.export` or `dir/file.export` (the export may be nested: `file.a.b`)
//   LAMBDA_TASK_ROOT         the function's code (default /var/task)
//   AWS_LAMBDA_FUNCTION_NAME, _VERSION, _MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME, _LOG_STREAM_NAME
//                            copied into the context object
//   AWS_LAMBDA_LOG_LEVEL     optional: console methods below this level do nothing (as on AWS)
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
// Log capture (a faas extension of the Runtime API): console.* write AWS-style lines
// `<ISO time>\t<request id>\t<LEVEL>\t<message>` and process.stdout/stderr.write are captured in
// memory. At the end of each invocation what was written since the previous one (the last 1 MiB)
// is POSTed to `/runtime/invocation/{id}/logs` before the response or error; output of the init
// phase is part of the first invocation's log, or goes to `/runtime/init/logs` when init fails. A
// Runtime API that answers 404 there does not know the extension: logs then go to the real stdout.
// Output of child processes started with stdio 'inherit' bypasses the capture (fds 1 and 2 are not
// redirected: Node has no dup2) and goes to the container's stdout.

import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import util from 'node:util';

const require = createRequire(import.meta.url);

const API_PREFIX = '/2018-06-01/runtime';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const LOG_LIMIT_BYTES = 1024 * 1024;
const LOG_CONTENT_TYPE = 'text/plain; charset=utf-8';
const REQUEST_ID_SYMBOL = Symbol.for('aws.lambda.runtime.requestId');
const BOOTSTRAP_URL = import.meta.url;

// --- errors -------------------------------------------------------------------------------------

/** An error class whose instances are named `Runtime.<name>`, in their stack too. */
function runtimeErrorClass(name) {
  const cls = class extends Error {};
  Object.defineProperty(cls, 'name', { value: name });
  cls.prototype.name = `Runtime.${name}`;
  return cls;
}

const HandlerNotFound = runtimeErrorClass('HandlerNotFound');
const MalformedHandlerName = runtimeErrorClass('MalformedHandlerName');
const ImportModuleError = runtimeErrorClass('ImportModuleError');
const NodeJsExit = runtimeErrorClass('NodeJsExit');
const UnhandledPromiseRejection = runtimeErrorClass('UnhandledPromiseRejection');

class UserCodeSyntaxError extends Error {
  constructor(cause) {
    super(String(cause));
    this.stack = cause.stack; // names the file and line; the bootstrap's own frames say nothing
  }
}
UserCodeSyntaxError.prototype.name = 'Runtime.UserCodeSyntaxError';

/** The Runtime API cannot be reached or broke the protocol: the environment is unusable. */
class RuntimeApiError extends Error {}

function looksLikeError(value) {
  return value && typeof value.name === 'string' && typeof value.message === 'string'
    && typeof value.stack === 'string' && value.name && value.message && value.stack;
}

/** The body of /error and /init/error: `{errorType, errorMessage, trace}` as AWS's client sends it;
 * a thrown non-Error (a string, say) becomes `{errorType: typeof value, errorMessage: String(value)}`. */
function errorBody(error) {
  try {
    if (util.types.isNativeError(error) || looksLikeError(error)) {
      const trace = error.stack.split('\n').filter((line) => !line.includes(BOOTSTRAP_URL));
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

// --- log capture --------------------------------------------------------------------------------

/** process.stdout/stderr.write and console.* into memory, read back and emptied per invocation. */
class LogCapture {
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

/** console.* as AWS patches them; AWS_LAMBDA_LOG_LEVEL silences the levels below it. */
function patchConsole(capture) {
  const minimum = LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] ?? LEVELS.TRACE;
  const nothing = () => {};
  const logger = (level) => (LEVELS[level] >= minimum ? (...args) => capture.line(level, args) : nothing);
  console.trace = logger('TRACE');
  console.debug = logger('DEBUG');
  console.info = logger('INFO');
  console.log = console.info;
  console.warn = logger('WARN');
  console.error = logger('ERROR');
  console.fatal = (...args) => capture.line('FATAL', args);
}

// --- the Runtime API client ---------------------------------------------------------------------

class RuntimeApi {
  constructor(address) {
    const colon = address.lastIndexOf(':');
    const port = Number(address.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port <= 0) {
      throw new RuntimeApiError(`AWS_LAMBDA_RUNTIME_API must be host:port, got '${address}'`);
    }
    this.host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    this.port = port;
    // One kept-alive connection; an idle pooled socket is unref'd, so it never keeps the event
    // loop alive (callbackWaitsForEmptyEventLoop relies on that).
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    this.logsSupported = true;
  }

  /** {status, headers (lower-case names), body: Buffer}. No timeout: /next is a long poll. */
  request(method, apiPath, body, headers, retried = false) {
    return new Promise((resolve, reject) => {
      const request = http.request({
        host: this.host, port: this.port, method, path: API_PREFIX + apiPath, agent: this.agent, headers,
      }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => resolve({
          status: response.statusCode,
          headers: response.headers,
          body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
        }));
        response.on('error', (error) => reject(new RuntimeApiError(`${method} ${apiPath}: ${error.message}`)));
      });
      request.on('error', (error) => {
        // A kept-alive connection the server closed meanwhile is retried once, fresh.
        if (request.reusedSocket && !retried && error.code === 'ECONNRESET') {
          resolve(this.request(method, apiPath, body, headers, true));
        } else {
          reject(new RuntimeApiError(`${method} ${apiPath}: ${error.message}`));
        }
      });
      request.end(body);
    });
  }

  async post(apiPath, body, contentType, errorType) {
    const headers = { 'Content-Type': contentType, 'Content-Length': body.length };
    if (errorType && /^[\x20-\x7e]+$/.test(errorType)) {
      headers[ERROR_TYPE_HEADER] = errorType;
    }
    const answer = await this.request('POST', apiPath, body, headers);
    if (answer.status >= 300 && !apiPath.endsWith('/logs')) {
      runtime.capture.diagnose(`POST ${apiPath} answered ${answer.status}: ${answer.body.subarray(0, 200)}`);
    }
    return answer.status;
  }
}

// --- the handler --------------------------------------------------------------------------------

function exists(file) {
  return fs.existsSync(file);
}

/** package.json with "type": "module" in the folder or above it (up to a node_modules folder). */
function inModulePackage(folder) {
  for (;;) {
    if (folder.endsWith('/node_modules')) {
      return false;
    }
    const packageJson = path.join(folder, 'package.json');
    if (exists(packageJson)) {
      try {
        return JSON.parse(fs.readFileSync(packageJson, 'utf8'))?.type === 'module';
      } catch (error) {
        console.warn(`${packageJson} cannot be read, it will be ignored for ES module detection purposes.`, error);
        return false;
      }
    }
    const parent = path.dirname(folder);
    if (parent === folder) {
      return false;
    }
    folder = parent;
  }
}

async function importFile(file) {
  return import(pathToFileURL(file).href);
}

/** The user's module, looked up in AWS's order: as is, .js (CommonJS unless in a "type": "module"
 * package), .mjs, .cjs, then Node's own resolution from the task root. */
async function loadModule(appRoot, moduleRoot, moduleName) {
  const base = path.resolve(appRoot, moduleRoot, moduleName);
  try {
    if (exists(base)) {
      return require(base);
    }
    const esm = inModulePackage(path.dirname(base));
    if (exists(base + '.js')) {
      return esm ? await importFile(base + '.js') : require(base + '.js');
    }
    if (exists(base + '.mjs')) {
      return await importFile(base + '.mjs');
    }
    if (exists(base + '.cjs')) {
      return require(base + '.cjs');
    }
    return require(require.resolve(moduleName, { paths: [appRoot, path.resolve(appRoot, moduleRoot)] }));
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new UserCodeSyntaxError(error);
    }
    // ERR_MODULE_NOT_FOUND: an ES module importing a missing package (AWS reports it as a plain Error).
    if (error?.code === 'MODULE_NOT_FOUND' || error?.code === 'ERR_MODULE_NOT_FOUND') {
      throw new ImportModuleError(String(error));
    }
    throw error;
  }
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(`'${fullHandler}' is not a valid handler name. `
      + 'Use absolute paths when specifying root directories in handler names.');
  }
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.slice(0, fullHandler.length - handlerString.length);
  const match = /^([^.]*)\.(.*)$/.exec(handlerString);
  if (!match) {
    throw new MalformedHandlerName('Bad handler');
  }
  const userModule = await loadModule(appRoot, moduleRoot, match[1]);
  const handler = match[2].split('.').reduce((object, key) => object && object[key], userModule);
  if (!handler) {
    throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  }
  if (typeof handler !== 'function') {
    throw new HandlerNotFound(`${fullHandler} is not a function`);
  }
  return handler;
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
  constructor(requestId, headers) {
    this.requestId = requestId;
    this.headers = headers;
    this.completed = false;
  }

  /** The context object and callback for the handler, with AWS's rules: the first of callback,
   * done, succeed and fail wins; a successful callback waits for an empty event loop unless
   * callbackWaitsForEmptyEventLoop was set to false. */
  prepare(fields) {
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
    runtime.logError('Invoke Error', error);
    const payload = errorBody(error);
    this.finish('error', Buffer.from(JSON.stringify(payload)), 'application/json', payload.errorType);
  }

  finish(outcome, body, contentType, errorType) {
    if (this.completed) {
      return;
    }
    this.completed = true;
    runtime.beforeExit = noop;
    runtime.post(this.requestId, outcome, body, contentType, errorType)
      .then(() => runtime.serveNext(), (error) => runtime.die(error));
  }
}

// --- the runtime --------------------------------------------------------------------------------

class Runtime {
  constructor() {
    this.capture = null;
    this.api = null;
    this.handler = null;
    this.handlerIsAsync = false;
    this.fields = null;
    this.state = 'init'; // init -> idle (waiting on /next) <-> invoking
    this.current = null;
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
      this.api = new RuntimeApi(address);
      if (process.env.FAAS_PREWARMED) {
        await this.specialize();
      }
    } catch (error) {
      this.die(error);
      return;
    }
    patchConsole(this.capture);
    try {
      this.handler = await loadHandler(process.env.LAMBDA_TASK_ROOT || '/var/task', process.env._HANDLER || '');
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
    const invocation = new Invocation(requestId, headers);
    this.current = invocation;
    this.state = 'invoking';
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
      const result = handler(decodeEvent(answer.body, headers["content-type"]), context, callback);
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
    await this.shipLogs(`/invocation/${requestId}/logs`);
    await this.api.post(`/invocation/${requestId}/${outcome}`, body, contentType, errorType);
  }

  async shipLogs(apiPath) {
    const data = this.capture.take();
    if (!data) {
      return;
    }
    if (this.api.logsSupported) {
      const status = await this.api.post(apiPath, data, LOG_CONTENT_TYPE);
      if (status < 300) {
        return;
      }
      if (status === 404) { // a plain Lambda Runtime API: stop trying, log like AWS does
        this.api.logsSupported = false;
      }
    }
    this.capture.writeOriginal(data);
  }

  logError(label, error) {
    this.capture.line('ERROR', [label, formatError(error)]);
  }

  async failInit(error, exitCode) {
    this.dying = true;
    this.logError('Uncaught Exception', error);
    try {
      await this.shipLogs('/init/logs');
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
      } catch (postError) {
        this.capture.diagnose(postError.message);
      }
    } else {
      // Between invocations: nobody to report it to but the container's log.
      this.logError(label, error);
      const data = this.capture.take();
      if (data) {
        this.capture.writeOriginal(data);
      }
      this.capture.diagnose(`${label} between invocations: exiting`);
    }
    process.exit(exitCode);
  }

  async terminate(exitCode) {
    const invocation = this.current;
    if (this.state === 'invoking' && invocation && !invocation.completed && !this.dying) {
      this.dying = true;
      invocation.completed = true;
      try {
        await this.shipLogs(`/invocation/${invocation.requestId}/logs`); // keep its log so far
      } catch {
        // exiting anyway
      }
    }
    process.exit(exitCode);
  }

  die(error) {
    this.capture.diagnose(error instanceof RuntimeApiError ? error.message : (error?.stack || String(error)));
    process.exit(1);
  }
}

const runtime = new Runtime();
runtime.start().catch((error) => runtime.die(error));
