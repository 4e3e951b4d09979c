"""Files to text with their structure: which format a file is, and its sections with locations.

`detect` runs in the edge (cheap, reads a few bytes); parsing runs in `worker`, a child process
with limits on time and memory, because a hostile PDF or DOCX can make a parser spin or balloon.
"""

from knowledge_core.extraction.detect import Format, detect_format
from knowledge_core.extraction.model import Extracted, ExtractionFailed, Section
from knowledge_core.extraction.runner import extract_file

__all__ = [
    "Extracted",
    "ExtractionFailed",
    "Format",
    "Section",
    "detect_format",
    "extract_file",
]
