"""`webslm bench`: in-browser speed of a build, side by side with the engines users would pick
instead, measured in one headless Chromium on the same machine."""
