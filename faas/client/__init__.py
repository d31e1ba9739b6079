"""The faas CLI's HTTP client: `discovery` finds the platform and credentials, `transport` signs and sends
requests, `api` speaks the Lambda and native REST APIs."""
