"""The `faas apis` verbs: create, ls, rm, routes and add-route, over API Gateway v2's API on the platform's
endpoint (HTTP APIs whose routes invoke functions)."""

from __future__ import annotations

import argparse

from faas.cli.common import add_verb, client_for, client_options, command_group, emit, print_table
from faas.client.http_apis import HttpApiClient
from faas.client.transport import ClientError

PAYLOAD_VERSIONS = ("2.0", "1.0")


def _apis(args: argparse.Namespace) -> HttpApiClient:
    return client_for(args, client_class=HttpApiClient)


def _function_arn(client: HttpApiClient, function: str) -> str:
    if function.startswith("arn:"):
        return function
    return str(client.get_function(function)["Configuration"]["FunctionArn"])


def allow_api(client: HttpApiClient, function_arn: str, api_id: str, region: str, account: str) -> None:
    """The function-policy statement API Gateway needs to invoke the function for this API (what quick
    create adds): added once per function and API."""
    try:
        client.add_permission(function_arn, statement_id=f"apigateway-{api_id}", action="lambda:InvokeFunction",
                              principal="apigateway.amazonaws.com",
                              source_arn=f"arn:aws:execute-api:{region}:{account}:{api_id}/*/*")
    except ClientError as exc:
        if exc.code != "ResourceConflictException":  # the statement is there already
            raise


def cmd_create(args: argparse.Namespace) -> int:
    client = _apis(args)
    target = _function_arn(client, args.function) if args.function else None
    api = client.create_api(args.name, target=target, route_key=args.route_key)
    if target is None:
        client.create_stage(api["apiId"], "$default")  # served at once, as quick create's API is
    emit(args, api, f"{api['apiId']} {api['apiEndpoint']}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    found = _apis(args).list_apis()
    emit(args, found, lambda: print_table(found, {"ID": "apiId", "NAME": "name", "ENDPOINT": "apiEndpoint",
                                                  "CREATED": "createdDate"}))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    _apis(args).delete_api(args.api_id)
    emit(args, {"ApiId": args.api_id, "Deleted": True}, f"deleted API {args.api_id}")
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    client = _apis(args)
    integrations = {i["integrationId"]: i for i in client.list_integrations(args.api_id)}
    rows = []
    for route in client.list_routes(args.api_id):
        integration = integrations.get(str(route.get("target", "")).partition("/")[2], {})
        rows.append({"routeKey": route["routeKey"], "routeId": route["routeId"],
                     "authorizationType": route.get("authorizationType", ""),
                     "function": str(integration.get("integrationUri", "")).rsplit(":", 1)[-1],
                     "payloadFormatVersion": integration.get("payloadFormatVersion", "")})
    emit(args, rows, lambda: print_table(rows, {"ROUTE": "routeKey", "ID": "routeId", "AUTH": "authorizationType",
                                                "FUNCTION": "function", "PAYLOAD": "payloadFormatVersion"}))
    return 0


def cmd_add_route(args: argparse.Namespace) -> int:
    client = _apis(args)
    function_arn = _function_arn(client, args.function)
    integration = next((i for i in client.list_integrations(args.api_id)
                        if i.get("integrationUri") == function_arn and i.get("payloadFormatVersion") == args.payload),
                       None)
    created = integration is None
    if integration is None:
        integration = client.create_integration(args.api_id, function_arn, args.payload)
    try:
        route = client.create_route(args.api_id, args.route_key, integration["integrationId"],
                                    authorization_type=args.auth)
    except ClientError:
        if created:  # a refused route (a bad or duplicate key) leaves nothing behind
            client.delete_integration(args.api_id, integration["integrationId"])
        raise
    _, _, _, region, account, *_ = function_arn.split(":")
    allow_api(client, function_arn, args.api_id, region, account)
    emit(args, route, f"{route['routeId']} {route['routeKey']}")
    return 0


def add_api_commands(commands: argparse._SubParsersAction) -> None:
    """Register `faas apis create|ls|rm|routes|add-route` on the `faas` parser."""
    connection = client_options()
    apis = command_group(commands, "apis", help="manage HTTP APIs (API Gateway v2) and their routes",
                         description="Create, list and delete HTTP APIs whose routes invoke functions, through the "
                                     "API Gateway v2 API the platform serves on its endpoint (boto3's apigatewayv2 "
                                     "client and 'aws apigatewayv2' work on the same APIs). An API answers at "
                                     "http://<api-id>.execute-api.<FAAS_URL_DOMAIN>:<port>/ and at "
                                     "<endpoint>/execute-api/<api-id>/.")

    create = apis.add_parser("create", parents=[connection], help="create an HTTP API and print its id and URL",
                             description="Create an HTTP API with a $default stage. With --function it is AWS's "
                                         "quick create: one route (--route-key, default $default) to the function, "
                                         "which is allowed to be invoked by the API.")
    create.add_argument("name", help="the API's name (1-128 characters)")
    create.add_argument("--function", metavar="NAME|ARN", help="the function the API's one route invokes")
    create.add_argument("--route-key", metavar="KEY", help="that route's key, e.g. 'GET /hello' (default $default)")
    create.set_defaults(run=cmd_create)

    ls = add_verb(apis, "ls", parents=[connection], help="list HTTP APIs",
                  description="List the HTTP APIs: id, name, endpoint and creation time.")
    ls.set_defaults(run=cmd_ls)

    rm = add_verb(apis, "rm", parents=[connection], help="delete an HTTP API",
                  description="Delete an HTTP API with its routes, integrations, stages and authorizers.")
    rm.add_argument("api_id", help="the API's id")
    rm.set_defaults(run=cmd_rm)

    routes = apis.add_parser("routes", parents=[connection], help="list an API's routes",
                             description="List an API's routes: key, id, authorisation, the function each invokes "
                                         "and its payload format.")
    routes.add_argument("api_id", help="the API's id")
    routes.set_defaults(run=cmd_routes)

    add = apis.add_parser("add-route", parents=[connection], help="add a route to a function",
                          description="Add a route to an API (CreateRoute), with an AWS_PROXY integration to the "
                                      "function (reused when the API has one to it in this payload format), and "
                                      "let the API invoke the function (AddPermission).")
    add.add_argument("api_id", help="the API's id")
    add.add_argument("route_key", help="e.g. 'GET /users/{id}', 'ANY /files/{proxy+}' or '$default'")
    add.add_argument("--function", required=True, metavar="NAME|ARN", help="the function the route invokes")
    add.add_argument("--payload", choices=PAYLOAD_VERSIONS, default="2.0",
                     help="the payload format version of the event (default 2.0)")
    add.add_argument("--auth", choices=("NONE", "AWS_IAM"),
                     help="the route's authorisation: NONE (default) or AWS_IAM (signed callers allowed "
                          "execute-api:Invoke)")
    add.set_defaults(run=cmd_add_route)
