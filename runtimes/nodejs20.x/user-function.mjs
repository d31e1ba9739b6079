// Loading the function's handler in the nodejs20.x bootstrap, with AWS's lookup rules and error types.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

/** An error class whose instances are named `Runtime.<name>`, in their stack too. */
export function runtimeErrorClass(name) {
  const cls = class extends Error {};
  Object.defineProperty(cls, 'name', { value: name });
  cls.prototype.name = `Runtime.${name}`;
  return cls;
}

const HandlerNotFound = runtimeErrorClass('HandlerNotFound');
const MalformedHandlerName = runtimeErrorClass('MalformedHandlerName');
const ImportModuleError = runtimeErrorClass('ImportModuleError');

class UserCodeSyntaxError extends Error {
  constructor(cause) {
    super(String(cause));
    this.stack = cause.stack; // names the file and line; the bootstrap's own frames say nothing
  }
}
UserCodeSyntaxError.prototype.name = 'Runtime.UserCodeSyntaxError';

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

export async function loadHandler(appRoot, fullHandler) {
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
