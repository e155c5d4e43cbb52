"""Exit 0 when the PostgreSQL server of the URL given answers, 1 otherwise (used by `make test`)."""

import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg

url = urlsplit(sys.argv[1])
# Connect to the maintenance database: the test database is created by the test run itself.
maintenance = urlunsplit((url.scheme, url.netloc, "/postgres", "", ""))
try:
    psycopg.connect(maintenance, connect_timeout=3).close()
except psycopg.Error:
    sys.exit(1)
