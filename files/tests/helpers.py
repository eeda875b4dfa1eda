"""Helpers of the files tests."""

API = "/api/v1"


def raw_upload(client, body, name="log.txt", path=f"{API}/files", content_type="application/octet-stream", **headers):
    """POST the bytes as they are, metadata in DCI-* headers (``job_id=`` → DCI-JOB-ID and so on)."""
    extra = {f"HTTP_DCI_{key.upper()}": str(value) for key, value in headers.items()}
    if name is not None:
        extra["HTTP_DCI_NAME"] = name
    return client.post(path, data=body, content_type=content_type, **extra)


# A pytest report, as in the seed's results example.
PYTEST = """<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="pytest" errors="0" failures="0" skipped="1" tests="3" time="46.050">
    <testcase classname="tests.test_api" name="test_ok" time="0.010"/>
    <testcase classname="tests.test_api" name="test_also_ok" time="1.5"><system-out>noise</system-out></testcase>
    <testcase classname="tests.test_api" name="test_later" time="0">
      <skipped type="pytest.skip" message="not on this hardware">skip reason</skipped>
    </testcase>
  </testsuite>
</testsuites>
"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuite name="bomb"><testcase name="a"><failure message="&lol9;"/></testcase></testsuite>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuite name="xxe"><testcase name="a"><failure message="&xxe;">&xxe;</failure></testcase></testsuite>
"""
