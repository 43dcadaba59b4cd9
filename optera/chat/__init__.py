"""The chat: tools over the library, the built-in analyst, and the LLM agent."""
