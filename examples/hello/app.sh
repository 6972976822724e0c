#!/bin/sh
echo "hello from jetway ($(wc -l < /deps.lock) dependencies)"
echo "changed at 04:09:16"
