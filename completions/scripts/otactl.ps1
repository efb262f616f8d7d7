# PowerShell completion for otactl. Install: add to your $PROFILE
#   otactl completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName otactl -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $words = @($commandAst.CommandElements | Select-Object -Skip 1 | ForEach-Object { $_.ToString() })
    if ($wordToComplete -eq '') { $words += '' }  # PowerShell 7.3+ passes empty arguments
    $out = @(& otactl __complete @words 2>$null)
    if ($out.Count -gt 0 -and $out[0] -eq ':files') { return }
    $out | ForEach-Object {
        [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
    }
}
