"""The GraphQL API: a strawberry schema served by uvicorn, with GraphiQL at /graphql."""
