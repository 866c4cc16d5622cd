"""An MCP (Model Context Protocol) server: corral's workspaces as tools for any MCP client."""
