"""Parses a Prometheus text scrape (on stdin) with prometheus_client's parser, the reference
Python one, and prints every sample as JSON: [{family, type, name, labels, value}].
Fails (exit 1) when the scrape does not parse."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> None:
    text = sys.stdin.read()
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.append(
                {
                    "family": family.name,
                    "type": family.type,
                    "help": family.documentation,
                    "name": s.name,
                    "labels": s.labels,
                    "value": s.value,
                }
            )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
