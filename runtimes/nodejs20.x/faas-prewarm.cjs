// Loaded in a prewarmed container before it is bound to a function: loading it compiles Node's
// CommonJS loader and the bootstrap's handler lookup, so the user's handler import does not pay.
exports.handler = () => {};
