"""Entry point (placeholder until the CLI lands)."""


def main() -> None:
    """Run the CLI."""
