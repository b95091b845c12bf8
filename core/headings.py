"""A clause heading numbered as agreements and reports number them: "7.2 Change control", "SECTION 5 -",
"Article 4 - Quality Contacts and Meetings", "Annex B:"."""

import re

NUMBERED_HEADING = re.compile(
    r"^\s*((section|article|appendix|annex|schedule|part)\s+[\dIVXA-Z]+[.:]?(\s+[-\u2013\u2014])?|\d{1,2}(\.\d{1,2}){0,3}\.?)\s+[A-Z(]",
    re.I,
)
