//! Description scanning of what a server lists (tools, prompts, resources): being built.
