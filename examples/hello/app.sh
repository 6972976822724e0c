#!/bin/sh
echo "hello from jetway ($(wc -l < /deps.lock) dependencies)"
