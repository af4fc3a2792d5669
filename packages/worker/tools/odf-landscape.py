"""
office/pdf's landscape: turns every page style of an OpenDocument file
(LibreOffice's own format, converted to first) to landscape, by swapping
the page width and height in styles.xml where the page is taller than wide
and marking the print orientation. LibreOffice's PDF export has no such
option; this is the page setting a person would change.
Usage: python3 odf-landscape.py IN OUT
"""
import re
import sys
import zipfile

src, dst = sys.argv[1], sys.argv[2]


def length_pt(value):
    number, unit = re.match(r"([0-9.]+)([a-z]*)", value).groups()
    return float(number) * {"cm": 28.3465, "mm": 2.83465, "in": 72.0, "pt": 1.0}.get(unit, 1.0)


def turn(match):
    tag = match.group(0)
    width = re.search(r'fo:page-width="([^"]+)"', tag)
    height = re.search(r'fo:page-height="([^"]+)"', tag)
    if width and height and length_pt(width.group(1)) < length_pt(height.group(1)):
        tag = tag.replace(width.group(0), 'fo:page-width="%s"' % height.group(1))
        tag = tag.replace(height.group(0), 'fo:page-height="%s"' % width.group(1), 1)
    if "style:print-orientation=" in tag:
        tag = re.sub(r'style:print-orientation="[^"]*"', 'style:print-orientation="landscape"', tag)
    else:
        tag = tag.replace("<style:page-layout-properties", '<style:page-layout-properties style:print-orientation="landscape"', 1)
    return tag


with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    for info in zin.infolist():
        data = zin.read(info)
        if info.filename == "styles.xml":
            text = data.decode("utf-8")
            text = re.sub(r"<style:page-layout-properties\b[^>]*>", turn, text)
            data = text.encode("utf-8")
        # mimetype stays first and stored, as ODF asks.
        compress = zipfile.ZIP_STORED if info.filename == "mimetype" else zipfile.ZIP_DEFLATED
        zout.writestr(info, data, compress_type=compress)
