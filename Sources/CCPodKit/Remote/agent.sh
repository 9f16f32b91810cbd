#!/bin/sh
# ccpod pod-side agent (placeholder, replaced by the transport work)
