-- Finish many commands in one statement, each with its own result.
{complete}
