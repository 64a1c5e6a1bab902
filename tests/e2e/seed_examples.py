# ruff: noqa: E501  (the examples keep their documents' lines)
"""The seed documents' own client code, verbatim (the two REST API documents Switchboard
serves unchanged): each example as its document prints it, placeholders and all. The
tests fill in only the placeholders (base URL, credentials, keys, token, ids, recipient)
and run the code with curl, Python, Node.js and PHP (tests/e2e/test_thin_path.py)."""

# The Instance API document's examples. Its placeholders: https://yourdomain.com, the key
# pair (YOUR_KEY / YOUR_SECRET, YOUR_PUBLIC_KEY / YOUR_SECRET_KEY) and the recipient
# 1234567890. Its page lost the Python example's indentation, given back here, and its
# JavaScript defines functions without calling them: two calls are added after them.
SEED_CURL_SEND = """curl -X POST "https://yourdomain.com/api/v1/whatsapp/send?publicKey=YOUR_KEY&secretKey=YOUR_SECRET" \\
-H "Content-Type: application/json" \\
-d '{"phoneNumber":"1234567890","message":"Hello World!"}'"""
SEED_CURL_INSTANCE = 'curl -X GET "https://yourdomain.com/api/v1/whatsapp/instance?publicKey=YOUR_KEY&secretKey=YOUR_SECRET"'
SEED_CURL_QUOTA = 'curl -X GET "https://yourdomain.com/api/v1/whatsapp/quota?publicKey=YOUR_KEY&secretKey=YOUR_SECRET"'

SEED_PYTHON = """import requests
class WhatsAppAPI:
    def __init__(self, public_key, secret_key, base_url):
        self.public_key = public_key
        self.secret_key = secret_key
        self.base_url = base_url
    def send_message(self, phone_number, message):
        url = f"{self.base_url}/api/v1/whatsapp/send"
        params = {
            'publicKey': self.public_key,
            'secretKey': self.secret_key
        }
        data = {
            'phoneNumber': phone_number,
            'message': message
        }
        response = requests.post(url, params=params, json=data)
        return response.json()
    def get_quota(self):
        url = f"{self.base_url}/api/v1/whatsapp/quota"
        params = {
            'publicKey': self.public_key,
            'secretKey': self.secret_key
        }
        response = requests.get(url, params=params)
        return response.json()
# Usage
api = WhatsAppAPI("YOUR_PUBLIC_KEY", "YOUR_SECRET_KEY", "https://yourdomain.com")
result = api.send_message("1234567890", "Hello from Python!")
print(result)
print(api.get_quota())
"""

SEED_JAVASCRIPT = """// Send message using fetch
async function sendWhatsAppMessage(publicKey, secretKey, phoneNumber, message) {
const response = await fetch(
`https://yourdomain.com/api/v1/whatsapp/send?publicKey=${publicKey}&secretKey=${secretKey}`,
{
method: 'POST',
headers: {
'Content-Type': 'application/json',
},
body: JSON.stringify({ phoneNumber, message })
}
);
const data = await response.json();
console.log(data);
}
// Get instance status
async function getInstanceStatus(publicKey, secretKey) {
const response = await fetch(
`https://yourdomain.com/api/v1/whatsapp/instance?publicKey=${publicKey}&secretKey=${secretKey}`
);
return await response.json();
}
(async () => {
console.log(JSON.stringify(await getInstanceStatus('YOUR_PUBLIC_KEY', 'YOUR_SECRET_KEY')));
await sendWhatsAppMessage('YOUR_PUBLIC_KEY', 'YOUR_SECRET_KEY', '1234567890', 'Hello from JS!');
})();
"""


# The Messaging API document's examples, in its order. Its placeholders are its base URL
# (MA_BASE), the credentials (your_username / your_password, and demo / password123 in
# the login request), the token (YOUR_JWT_TOKEN), the template id (123), the queue id of
# the status request (msg_abc123) and the new user of the register request.
MA_BASE = "https://whatsapp.kuijpersconsulting.co.za/api"

MA_CURL_LOGIN = """curl -X POST https://whatsapp.kuijpersconsulting.co.za/api/auth/login \\
-H "Content-Type: application/json" \\
-d '{
"username": "demo",
"password": "password123"
}'"""

MA_CURL_REGISTER = """curl -X POST https://whatsapp.kuijpersconsulting.co.za/api/auth/register \\
-H "Content-Type: application/json" \\
-d '{
"username": "newuser",
"email": "[email protected]",
"password": "securepassword",
"notification_number": "27821234567"
}'"""

MA_CURL_SEND = """curl -X POST https://whatsapp.kuijpersconsulting.co.za/api/messages/send-message \\
-H "Content-Type: application/json" \\
-H "Authorization: Bearer YOUR_JWT_TOKEN" \\
-d '{
"number": "27821234567",
"message": "Hello from WhatsApp API!"
}'"""

MA_CURL_SEND_TEMPLATE = """curl -X POST https://whatsapp.kuijpersconsulting.co.za/api/messages/send-message \\
-H "Content-Type: application/json" \\
-H "Authorization: Bearer YOUR_JWT_TOKEN" \\
-d '{
"number": "27821234567",
"template_id": 123,
"variables": {
"name": "John Smith",
"company": "Example Corp"
}
}'"""

MA_CURL_BULK = """curl -X POST https://whatsapp.kuijpersconsulting.co.za/api/messages/send-bulk-message \\
-H "Content-Type: application/json" \\
-H "Authorization: Bearer YOUR_JWT_TOKEN" \\
-d '{
"numbers": ["27821234567", "27829876543", "27823456789"],
"message": "Bulk message to all recipients!"
}'"""

MA_CURL_BULK_TEMPLATE = """curl -X POST https://whatsapp.kuijpersconsulting.co.za/api/messages/send-bulk-message \\
-H "Content-Type: application/json" \\
-H "Authorization: Bearer YOUR_JWT_TOKEN" \\
-d '{
"numbers": ["27821234567", "27829876543", "27823456789"],
"template_id": 123
}'"""

MA_CURL_STATUS = """curl -X GET https://whatsapp.kuijpersconsulting.co.za/api/messages/message-status/msg_abc123 \\
-H "Authorization: Bearer YOUR_JWT_TOKEN\""""

MA_CURL_HISTORY = """curl -X GET "https://whatsapp.kuijpersconsulting.co.za/api/messages/messages?page=1&per_page=20" \\
-H "Authorization: Bearer YOUR_JWT_TOKEN\""""

MA_CURL_CREDITS = """curl -X GET https://whatsapp.kuijpersconsulting.co.za/api/users/user/credits \\
-H "Authorization: Bearer YOUR_JWT_TOKEN\""""

MA_CURL_PROFILE = """curl -X GET https://whatsapp.kuijpersconsulting.co.za/api/users/user/profile \\
-H "Authorization: Bearer YOUR_JWT_TOKEN\""""

MA_PYTHON = """import requests
import json
# API Configuration
BASE_URL = "https://whatsapp.kuijpersconsulting.co.za/api"
USERNAME = "your_username"
PASSWORD = "your_password"
# Step 1: Login and get token
login_response = requests.post(f"{BASE_URL}/auth/login",
json={
"username": USERNAME,
"password": PASSWORD
}
)
token = login_response.json()["access_token"]
headers = {"Authorization": f"Bearer {token}"}
# Step 2: Send a message
message_response = requests.post(f"{BASE_URL}/messages/send-message",
headers=headers,
json={
"number": "27821234567",
"message": "Hello from Python!"
}
)
print("Message sent:", message_response.json())
"""

MA_JAVASCRIPT = """const API_BASE = 'https://whatsapp.kuijpersconsulting.co.za/api';
// Step 1: Login and get token
async function login(username, password) {
const response = await fetch(`${API_BASE}/auth/login`, {
method: 'POST',
headers: { 'Content-Type': 'application/json' },
body: JSON.stringify({ username, password })
});
const data = await response.json();
return data.access_token;
}
// Step 2: Send message
async function sendMessage(token, number, message) {
const response = await fetch(`${API_BASE}/messages/send-message`, {
method: 'POST',
headers: {
'Content-Type': 'application/json',
'Authorization': `Bearer ${token}`
},
body: JSON.stringify({ number, message })
});
return await response.json();
}
// Usage
(async () => {
const token = await login('your_username', 'your_password');
const result = await sendMessage(token, '27821234567', 'Hello from JavaScript!');
console.log('Message sent:', result);
})();
"""

MA_PHP = """<?php
$baseUrl = 'https://whatsapp.kuijpersconsulting.co.za/api';
$username = 'your_username';
$password = 'your_password';
// Step 1: Login and get token
$loginData = json_encode([
'username' => $username,
'password' => $password
]);
$loginResponse = file_get_contents($baseUrl . '/auth/login', false, stream_context_create([
'http' => [
'method' => 'POST',
'header' => 'Content-Type: application/json',
'content' => $loginData
]
]));
$token = json_decode($loginResponse, true)['access_token'];
// Step 2: Send message
$messageData = json_encode([
'number' => '27821234567',
'message' => 'Hello from PHP!'
]);
$messageResponse = file_get_contents($baseUrl . '/messages/send-message', false, stream_context_create([
'http' => [
'method' => 'POST',
'header' => [
'Content-Type: application/json',
'Authorization: Bearer ' . $token
],
'content' => $messageData
]
]));
echo 'Message sent: ' . $messageResponse;
?>
"""
