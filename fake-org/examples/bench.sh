#!/bin/sh
# Pages through a 100,000-contact query against a running fake-org binary with curl:
# `examples/bench.sh http://127.0.0.1:PORT`
BASE=$1
TOKEN=$(curl -s "$BASE/services/oauth2/token" -d grant_type=password -d client_id=fake-client-id \
  -d client_secret=fake-client-secret -d username=integration@example.com \
  -d password=fake-passwordfake-token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
Q='SELECT+Id,FirstName,LastName,Name,Email,Phone,Birthdate,AccountId,Account.Name,MailingStreet,MailingCity,MailingState,MailingPostalCode,MailingCountry,MailingAddress,LeadSource,Experience__c,Specialty__c,Industries__c,Newsletter__c,Score__c,Score_Band__c,Last_Event__c,CreatedDate,LastModifiedDate,SystemModstamp,IsDeleted+FROM+Contact'
URL="$BASE/services/data/v62.0/query?q=$Q"
PAGES=0
START=$(date +%s.%N)
while [ -n "$URL" ]; do
  curl -s -H "Authorization: Bearer $TOKEN" -H "Sforce-Query-Options: batchSize=2000" -o /tmp/page.json "$URL"
  PAGES=$((PAGES+1))
  NEXT=$(head -c 300 /tmp/page.json | grep -o '"nextRecordsUrl":"[^"]*"' | cut -d'"' -f4)
  if [ -n "$NEXT" ]; then URL="$BASE$NEXT"; else URL=""; fi
done
END=$(date +%s.%N)
echo "$PAGES pages in $(echo "$END - $START" | bc) s: $(echo "$PAGES / ($END - $START)" | bc -l | cut -c1-5) pages/s"
