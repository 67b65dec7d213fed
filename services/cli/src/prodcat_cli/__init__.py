"""The `prodcat` command. Stages plug in through the `prodcat.commands` entry-point group, so an
image carries exactly the stages it installs and no member imports another."""
