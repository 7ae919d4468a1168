// Placeholder: this module arrives with its issue (see CHANGELOG.md).
enum WorkflowModule {}
