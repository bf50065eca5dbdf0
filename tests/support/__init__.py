"""Helpers the tests share: servers, clients, node packages and the paths of test files."""
