"""IAM-style policies: validating documents, building function-policy statements, deciding Allow or Deny.

One module per concern: `documents` (parsing identity policies), `statements` (AddPermission's
statements), `matching` (wildcards), `conditions` (condition operators), `evaluation` (the decisions).
Callers import the public names from here.

Pure functions, no I/O; the semantics are AWS's:

- An explicit Deny anywhere wins; otherwise an Allow anywhere allows; otherwise the request is denied.
- Actions match case-insensitively, resources case-sensitively; both take `*` and `?` wildcards, and `*`
  crosses `:` and `/`, so `function:app` does not cover `function:app:PROD` but `function:app*` does.
- A condition key absent from the request context makes a positive operator (StringEquals, ArnLike...)
  false and a negated one (StringNotEquals, ArnNotLike...) true, as IAM documents.
  Bool compares "true"/"false" without regard to case; the platform alone sets the keys a function
  URL request carries (`lambda:FunctionUrlAuthType`, `lambda:InvokedViaFunctionUrl`), so a direct
  Invoke never matches a grant limited to invocations through the URL.
- Statements are trusted to be well formed (the output of `parse_document` or `function_statement`):
  a malformed one, or an unsupported condition operator, raises rather than being skipped, so a bad
  stored policy fails closed.

Wildcard patterns are compiled once (lru_cache) into matchers that never backtrack: a pattern such
as `*a*a*a*a*a*a*b` cannot make a request backtrack for seconds. Rough cost on a laptop (not a test):

    python -m timeit -s 'from faas.security.policy import evaluate
    doc = {"Statement": [{"Effect": "Allow", "Action": [f"lambda:Get{i}*", "lambda:List*"],
           "Resource": f"arn:aws:lambda:us-east-1:000000000000:function:app{i}-*"} for i in range(10)]}' \\
      'evaluate([doc], "lambda:InvokeFunction", "arn:aws:lambda:us-east-1:000000000000:function:x")'
    # ~5 usec per loop (the budget is 20); a 10-statement function policy with conditions: ~9 usec
"""

from __future__ import annotations

from faas.security.policy.documents import ALLOW, DEFAULT_VERSION, DENY, NO_MATCH, VERSIONS, parse_document
from faas.security.policy.evaluation import evaluate, evaluate_resource_policy, is_allowed
from faas.security.policy.statements import FUNCTION_URL_AUTH_TYPE, INVOKED_VIA_FUNCTION_URL, function_statement

__all__ = [
    "ALLOW", "DEFAULT_VERSION", "DENY", "FUNCTION_URL_AUTH_TYPE", "INVOKED_VIA_FUNCTION_URL", "NO_MATCH", "VERSIONS",
    "evaluate", "evaluate_resource_policy", "function_statement", "is_allowed", "parse_document",
]
