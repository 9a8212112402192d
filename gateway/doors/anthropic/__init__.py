"""The Anthropic door: ``POST /v1/messages`` for the anthropic SDK, Claude Code and
Claude computer-use agents, forwarded to Anthropic-format upstreams or answered by
a person (the request translated into the core's conversation form)."""
