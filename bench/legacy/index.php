<?php
// The legacy script instagram-auth replaces, re-created for the benchmark as the
// blog post describes it: no code in the URL -> the "Authorize" link; a code ->
// POST it with the app's credentials to the access-token endpoint and show the answer.
// defines.php holds INSTAGRAM_APP_ID, INSTAGRAM_APP_SECRET, INSTAGRAM_APP_REDIRECT_URI
// and, for the benchmark only, INSTAGRAM_BASE_URL (https://api.instagram.com in the original).
require_once __DIR__ . '/defines.php';

if (isset($_GET['code']) && $_GET['code'] != '') {
    $ch = curl_init();
    curl_setopt($ch, CURLOPT_URL, INSTAGRAM_BASE_URL . '/oauth/access_token');
    curl_setopt($ch, CURLOPT_POST, true);
    curl_setopt($ch, CURLOPT_POSTFIELDS, http_build_query(array(
        'app_id' => INSTAGRAM_APP_ID,
        'app_secret' => INSTAGRAM_APP_SECRET,
        'redirect_uri' => INSTAGRAM_APP_REDIRECT_URI,
        'grant_type' => 'authorization_code',
        'code' => $_GET['code'],
    )));
    curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
    curl_setopt($ch, CURLOPT_TIMEOUT, 30);
    $response = curl_exec($ch);
    curl_close($ch);
    $result = json_decode($response, true);
    echo '<h1>Instagram access token</h1><pre>';
    print_r($result);
    echo '</pre>';
} else {
    $url = 'https://api.instagram.com/oauth/authorize?app_id=' . INSTAGRAM_APP_ID
        . '&redirect_uri=' . urlencode(INSTAGRAM_APP_REDIRECT_URI)
        . '&scope=user_profile,user_media&response_type=code';
    echo '<a href="' . htmlspecialchars($url) . '">Authorize w/ Instagram</a>';
}
