"""The MCP door: ``/mcp``, where any MCP client asks a person through two tools.

- ``ask_human`` puts a question (with options, a JSON Schema or images) on the
  queue as a task of kind ``question``;
- ``request_permission`` (Claude Code's ``--permission-prompt-tool``) asks a
  person whether a tool call may run: a task of kind ``permission``.

Modules: ``tools`` (the tools and their arguments), ``work`` (a call as a task's
conversation), ``results`` (a task's outcome as a tool result), ``waiting``
(making the task and waiting for it), ``server`` (the MCP server on streamable
HTTP, stateless, behind the client keys).
"""
