// A Node.js function (an ES module, nodejs20.x): greets by name, as examples/hello does in Python.
//
//     faas deploy examples/hello-node --name hello-node --runtime nodejs20.x --handler index.handler
//     faas invoke hello-node --payload '{"name": "node"}'

export const handler = async (event, context) => {
  const name = event?.name ?? "world";
  // console.log lines land in the invocation's log (`faas logs hello-node`).
  console.log(`greeting ${name} from ${context.functionName}`);
  return { message: `Hello, ${name}!`, runtime: process.version, requestId: context.awsRequestId };
};
