"""Prints the .eml files of a folder as JSON, decoded by Python's email package.

Usage: python read_mail.py DIR
Output: a JSON list of {file, to, from, subject, message_id, text, html}, sorted by file.
"""

import json
import os
import sys
from email import policy
from email.parser import BytesParser


def read(path):
    with open(path, "rb") as f:
        message = BytesParser(policy=policy.default).parse(f)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return {
        "to": str(message["To"]),
        "from": str(message["From"]),
        "subject": str(message["Subject"]),
        "message_id": str(message["Message-ID"]),
        "text": text.get_content() if text else "",
        "html": html.get_content() if html else "",
    }


def main():
    folder = sys.argv[1]
    names = sorted(n for n in os.listdir(folder) if n.endswith(".eml"))
    out = []
    for name in names:
        entry = read(os.path.join(folder, name))
        entry["file"] = name
        out.append(entry)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
