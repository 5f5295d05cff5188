#!/bin/sh
# One service of the example. GET /cgi-bin/call answers with this service's name, version
# and pod, then with the answers of the services it calls, by name: $CALLS (each indented).
# A call that fails shows as "FAILED <name>". GET / is the readiness page.
set -e
mkdir -p /tmp/www/cgi-bin
echo ready > /tmp/www/index.html
cat > /tmp/www/cgi-bin/call <<EOF
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "$SERVICE $VERSION \$(hostname)"
for peer in $CALLS; do
  out=\$(wget -qO- "http://\$peer:8080/cgi-bin/call" 2>&1) || out="FAILED \$peer: \$out"
  echo "\$out" | sed 's/^/  /'
done
EOF
chmod +x /tmp/www/cgi-bin/call
exec httpd -f -p 8080 -h /tmp/www
